/**
 * The pure-Python reader in docs/loading-the-dataset.md, run as the docs give it (python3 + NumPy) on a dataset
 * merge wrote: a third decoder, in another language, that must agree with the project's reader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPatients } from '../../shared/dataset-reader.js';
import { Logger } from '../../shared/log.js';
import { runMerge } from '../helpers/run-merge.js';
import { config, makePfs, projectRoot, slideData, writeManifest, writeSlideOutputs } from './cohort-fixture.js';

const python = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
const skip = python.error || python.status !== 0 ? 'python3 with NumPy is not available' : false;

function readerFromDocs(): string {
  const md = readFileSync(join(projectRoot, 'docs/loading-the-dataset.md'), 'utf8');
  const block = [...md.matchAll(/```python\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .find((b) => b.startsWith('# tessella_reader.py'));
  assert.ok(block, 'docs/loading-the-dataset.md has the tessella_reader.py block');
  return block;
}

for (const compression of ['none', 'gzip']) {
  test(`the documented Python reader agrees with the project's reader (${compression})`, { skip }, async () => {
    const pfs = makePfs('merge-py');
    try {
      const rows = ['image_id,patient_id,center_id,label'];
      for (let i = 0; i < 8; i++) {
        rows.push(`s${i},p${i % 5},${i % 5 < 3 ? 'A' : 'B'},${i % 5 < 2 ? 'x' : 'y'}`);
        writeSlideOutputs(pfs, `s${i}`, slideData(i, 1 + (i % 3), 12));
      }
      writeManifest(pfs, rows.join('\n'));
      await runMerge({
        manifestDir: pfs.manifest,
        dirs: { embed: pfs.embed, histogram: pfs.histogram },
        outDir: pfs.out,
        config: config({ COMPRESSION: compression }),
        log: new Logger('m', {}, { isTTY: false, write: () => {} }),
      });

      writeFileSync(join(pfs.root, 'tessella_reader.py'), readerFromDocs());
      const driver = `
import json, sys
from tessella_reader import patients
out = []
for split in json.load(open(sys.argv[1] + "/dataset.json"))["sets"]:
    for p in patients(sys.argv[1], split):
        out.append({"split": split, "patient_id": p["patient_id"], "center_id": p["center_id"], "label": p["label"],
                    "shape": list(p["embedding_avg"].shape), "avg": p["embedding_avg"].ravel().tolist(),
                    "max": p["embedding_max"].ravel().tolist(), "hist": p["color_histogram"].ravel().tolist(),
                    "slide_ids": p["slide_ids"], "tile_slide": p["tile_slide"].tolist(), "loc": p["tile_loc"].tolist()})
print(json.dumps(out))
`;
      const r = spawnSync('python3', ['-c', driver, pfs.out], { cwd: pfs.root, encoding: 'utf8', maxBuffer: 1 << 26 });
      assert.equal(r.status, 0, r.stderr);
      const fromPython = JSON.parse(r.stdout) as Record<string, unknown>[];
      const ours = [];
      for await (const p of readPatients(pfs.out)) ours.push(p);
      assert.equal(fromPython.length, ours.length);
      assert.equal(ours.length, 5);
      for (const [i, p] of ours.entries()) {
        const py = fromPython[i];
        assert.equal(py.split, p.set);
        assert.equal(py.patient_id, p.patientId);
        assert.equal(py.center_id, p.centerId);
        assert.equal(py.label, p.label);
        assert.deepEqual(py.shape, [p.numTiles, 12]);
        assert.deepEqual(Float32Array.from(py.avg), p.embeddingAvg);
        assert.deepEqual(Float32Array.from(py.max), p.embeddingMax);
        assert.deepEqual(Float32Array.from(py.hist), p.colorHistogram);
        assert.deepEqual(py.slide_ids, p.slideIds);
        assert.deepEqual(py.tile_slide, p.tileSlide);
        assert.deepEqual(
          py.loc,
          p.tileLocX.map((x, t) => [x, p.tileLocY[t]]),
        );
      }
    } finally {
      pfs.cleanup();
    }
  });
}
