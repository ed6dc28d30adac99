/**
 * merge-slide: one slide, joined on its id across merge-assign, embed, histogram and tile-detect (outer joins, so a
 * slide that only some of them know still gets a datum). A manifest slide becomes
 * `/shards/<set>/<NNNNN>/<patient>/<slide>/`: `slide.json` (its assignment and what the stages left: tiles,
 * dimension, models, or why it is left out) and, when usable, its `embeddings.safetensors` and
 * `histogram.safetensors` as symlinks into the (lazy) inputs: Pachyderm copies those by reference, the engine by
 * content hash, so this step stores no tensor bytes. Only the safetensors headers are read here.
 * A slide no manifest row names becomes `/unlisted/<slide>.json` and touches no shard.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  EMBEDDINGS_FILE,
  HISTOGRAM_FILE,
  readAssignedSlide,
  SHARDS_DIR,
  SLIDE_FILE,
  unlistedSlideFile,
  type SlideError,
} from '../../shared/contract/index.js';
import { placeAtomic, withoutPfsRoot, writeFileAtomic } from '../../shared/pfs.js';
import type { SlideFile, SlideOutcome } from '../cohort/merge-file-types.js';
import { surveySlide } from './slide-outputs.js';

/** A patient id as one path segment (ids may hold '/', spaces, ...). */
function patientFolder(patientId: string): string {
  return encodeURIComponent(patientId).replace(/^\./, '%2E');
}

function shardFolder(set: string, shard: number): string {
  return `${set}/${String(shard).padStart(5, '0')}`;
}

export interface SlideInputs {
  slideId: string;
  /** `<merge_assign>/slides/<slide>.json`, when the manifest names the slide */
  assignFile?: string;
  /** The mounted slide folders (`<input>/<slide>`), each when that input has the slide. */
  embed?: string;
  histogram?: string;
  tileDetect?: string;
  outDir: string;
}

function clean(outcome: SlideOutcome): SlideOutcome {
  const error = (e: SlideError): SlideError => {
    const { time: _t, ...rest } = e;
    void _t;
    return {
      ...rest,
      what: withoutPfsRoot(e.what),
      why: withoutPfsRoot(e.why),
      ...(e.where !== undefined ? { where: withoutPfsRoot(e.where) } : {}),
    };
  };
  if (outcome.status === 'error') return { ...outcome, error: error(outcome.error) };
  if (outcome.status === 'excluded') return { ...outcome, why: withoutPfsRoot(outcome.why) };
  return outcome;
}

export function runSlide(inputs: SlideInputs): { path: string; file?: SlideFile } {
  const { slideId, outDir } = inputs;
  if (!inputs.assignFile) {
    const present = (['embed', 'histogram', 'tileDetect'] as const)
      .filter((k) => inputs[k] !== undefined)
      .map((k) => (k === 'tileDetect' ? 'tile-detect' : k));
    const path = unlistedSlideFile(slideId);
    writeFileAtomic(join(outDir, path), JSON.stringify({ slide: slideId, outputs: present }, null, 2) + '\n');
    return { path };
  }
  const assigned = readAssignedSlide(inputs.assignFile);
  if (assigned.slide !== slideId)
    throw new Error(`${withoutPfsRoot(inputs.assignFile)} is for slide '${assigned.slide}', joined as '${slideId}'`);
  // surveySlide reads `<dir>/<slide>/...`: the mounts' parents are the repo roots; a missing input is a path that is not there.
  const root = (dir: string | undefined, name: string) => (dir ? dirname(dir) : join(outDir, '..', `.absent-${name}`));
  // tile-detect has a datum for every slide of the slides repo: no output from any stage means the slide is not there
  const notInSlides = !inputs.embed && !inputs.histogram && !inputs.tileDetect;
  const outcome: SlideOutcome = notInSlides
    ? {
        status: 'excluded',
        slideId,
        why: 'not in the slides repo: add the slide, or remove its manifest row',
        missing: true,
      }
    : clean(
        surveySlide(
          {
            embed: root(inputs.embed, 'embed'),
            histogram: root(inputs.histogram, 'histogram'),
            tileDetect: inputs.tileDetect ? dirname(inputs.tileDetect) : undefined,
          },
          slideId,
        ),
      );
  const dir = join(SHARDS_DIR, shardFolder(assigned.set, assigned.shard), patientFolder(assigned.patient), slideId);
  const file: SlideFile = { assigned, outcome };
  writeFileAtomic(join(outDir, dir, SLIDE_FILE), JSON.stringify(file, null, 2) + '\n');
  if (outcome.status === 'ok') {
    for (const [from, name] of [
      [inputs.embed!, EMBEDDINGS_FILE],
      [inputs.histogram!, HISTOGRAM_FILE],
    ] as const) {
      if (!existsSync(join(from, name)))
        throw new Error(`${withoutPfsRoot(join(from, name))} vanished during merge-slide`);
      placeAtomic(join(from, name), join(outDir, dir, name), 'symlink');
    }
  }
  return { path: dir, file };
}
