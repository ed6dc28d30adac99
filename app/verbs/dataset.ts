/**
 * `tessella dataset <dir> [--patient ID] [--verify] [--json]`: a look at a merge output folder (for example one
 * fetched with `tessella get file merge@master:/ -o <dir>`). Counts per set and center; one patient's record
 * summarized; `--verify` reads every record of every shard, checking both CRCs and the Example's consistency.
 */
import { parseArgs } from 'node:util';
import type { DatasetJson, PatientRecord } from '../../shared/contract/index.js';
import type { Verb } from '../../engine/cli/verb.js';

const USAGE = `usage: tessella dataset <dir> [--patient ID] [--verify] [--json]
  <dir>          a merge output folder (dataset.json, <set>/<set>-NNNNN-of-MMMMM.tfrecord)
  --patient ID   summarize one patient's record
  --verify       read every record: CRCs, decoding, counts against dataset.json (exit 1 on any problem)
  --json         machine-readable output`;

export async function main(
  argv: string[],
  out: (s: string) => void = (s) => void process.stdout.write(s + '\n'),
): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    out(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`expected one dataset folder, got ${positionals.length}\n${USAGE}\n`);
    return 2;
  }
  const dir = positionals[0];
  // the reader (protobuf, CRCs) loads only for this verb, not for every start of the CLI
  const [{ findPatient, verifyDataset }, { readDatasetJson }] = await Promise.all([
    import('../../shared/dataset-reader.js'),
    import('../../shared/contract/dataset-json.js'),
  ]);
  let info: DatasetJson;
  try {
    info = readDatasetJson(dir);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }

  let code = 0;
  const json: Record<string, unknown> = {};
  if (values.json) json.summary = summaryJson(info);
  else out(summaryText(dir, info));

  if (values.patient !== undefined) {
    const record = await findPatient(dir, values.patient, info);
    if (!record) {
      process.stderr.write(
        `patient '${values.patient}' is not in ${dir}${info.excluded.patients.some((p) => p.patient === values.patient) ? ' (dropped: see report.md)' : ''}\n`,
      );
      code = 1;
    } else if (values.json) json.patient = patientJson(record, info);
    else out('\n' + patientText(record, info));
  }

  if (values.verify) {
    const check = await verifyDataset(dir, info);
    if (values.json) json.verify = check;
    else {
      out('');
      for (const s of check.shards)
        out(
          `${s.problem ? 'FAIL' : 'ok  '} ${s.file}: ${s.records} records, ${s.tiles} tiles${s.problem ? `: ${s.problem}` : ''}`,
        );
      for (const p of check.problems.filter((p) => p.startsWith('set '))) out(`FAIL ${p}`);
      out(
        check.ok
          ? `verified: ${check.shards.length} shards, every record's CRCs and contents check out`
          : `${check.problems.length} problem(s)`,
      );
    }
    if (!check.ok) code = 1;
  }
  if (values.json) out(JSON.stringify(json, null, 2));
  return code;
}

export const datasetVerbs: Record<string, Verb> = {
  dataset: {
    usage: 'dataset DIR [--patient ID] [--verify] [--json]',
    summary: 'a merge output folder: counts per set and center, one patient, --verify every record',
    main: (argv) => main(argv),
  },
};

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      patient: { type: 'string' },
      verify: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

const pad = (s: unknown, n: number) => String(s).padEnd(n);
const padL = (s: unknown, n: number) => String(s).padStart(n);
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

function summaryJson(info: DatasetJson) {
  return {
    kind: info.kind,
    compression: info.compression || 'none',
    embedding_dim: info.embedding_dim,
    label_names: info.label_names,
    sets: Object.fromEntries(
      Object.entries(info.sets).map(([k, s]) => [
        k,
        {
          patients: s.patients,
          slides: s.slides,
          tiles: s.tiles,
          shards: s.shards.length,
          bytes: s.shards.reduce((a, x) => a + x.bytes, 0),
        },
      ]),
    ),
    totals: info.totals,
    excluded: {
      slides: info.excluded.slides.length,
      patients: info.excluded.patients.length,
      unlisted_slides: info.excluded.unlisted_slides.length,
    },
  };
}

function summaryText(dir: string, info: DatasetJson): string {
  const lines = [
    `${dir}: ${info.kind === 'labeled' ? 'labelled' : 'inference'} dataset, embedding dim ${info.embedding_dim}, ${info.compression ? 'GZIP' : 'uncompressed'}`,
  ];
  if (info.label_names.length) lines.push(`labels: ${info.label_names.map((l, i) => `${i}=${l}`).join(', ')}`);
  lines.push(
    '',
    `${pad('set', 10)}${padL('patients', 9)}${padL('slides', 8)}${padL('tiles', 10)}${padL('shards', 8)}${padL('size', 12)}`,
  );
  for (const [name, s] of Object.entries(info.sets)) {
    lines.push(
      `${pad(name, 10)}${padL(s.patients, 9)}${padL(s.slides, 8)}${padL(s.tiles, 10)}${padL(s.shards.length, 8)}${padL(mb(s.shards.reduce((a, x) => a + x.bytes, 0)), 12)}`,
    );
  }
  lines.push(
    `${pad('total', 10)}${padL(info.totals.patients, 9)}${padL(info.totals.slides, 8)}${padL(info.totals.tiles, 10)}`,
  );
  const sets = Object.keys(info.sets);
  lines.push('', `patients per center: ${sets.join(' / ')}`);
  for (const c of info.centers)
    lines.push(
      `  ${pad(`${c.name} (${c.id})`, 24)} ${sets.map((s) => info.sets[s].centers[c.name]?.patients ?? 0).join(' / ')}`,
    );
  const ex = info.excluded;
  if (ex.slides.length || ex.patients.length || ex.unlisted_slides.length) {
    lines.push(
      '',
      `left out: ${ex.slides.length} slide(s), ${ex.patients.length} patient(s) without tiles, ${ex.unlisted_slides.length} slide(s) not in the manifest (see report.md)`,
    );
  }
  for (const [stage, keys] of Object.entries(info.models)) {
    const sha = Object.entries(keys).find(([k]) => /sha256/i.test(k));
    if (sha)
      lines.push(
        `${stage} model sha256: ${sha[1].map(String).join(', ')}${sha[1].length > 1 ? '  (MORE THAN ONE MODEL)' : ''}`,
      );
  }
  return lines.join('\n');
}

function stats(values: Float32Array) {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let nonFinite = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const n = values.length - nonFinite;
  return { min: n ? min : 0, max: n ? max : 0, mean: n ? sum / n : 0, non_finite: nonFinite };
}

/** Min and max without spreading (tile lists can be longer than the argument limit). */
const range = (v: number[]) =>
  v.reduce((a, x) => ({ min: Math.min(a.min, x), max: Math.max(a.max, x) }), { min: Infinity, max: -Infinity });

function patientJson(r: PatientRecord & { set: string; file: string }, info: DatasetJson) {
  const perSlide = r.slideIds.map((id, i) => ({ slide: id, tiles: r.tileSlide.filter((s) => s === i).length }));
  const topBins = [...r.colorHistogram.entries()]
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([bin, v]) => ({ bin, r: (bin >> 8) << 4, g: ((bin >> 4) & 15) << 4, b: (bin & 15) << 4, fraction: v }));
  return {
    patient_id: r.patientId,
    set: r.set,
    file: r.file,
    center_id: r.centerId,
    center: info.centers.find((c) => c.id === r.centerId)?.name,
    label: r.label,
    label_name: r.label !== undefined ? info.label_names[r.label] : undefined,
    num_tiles: r.numTiles,
    embedding_dim: r.embeddingDim,
    slides: perSlide,
    // each pooled vector the dataset has (a cls model has no max; today's have avg and max)
    ...(r.embeddingAvg.length ? { embedding_avg: stats(r.embeddingAvg) } : {}),
    ...(r.embeddingMax.length ? { embedding_max: stats(r.embeddingMax) } : {}),
    ...(r.embeddingCls?.length ? { embedding_cls: stats(r.embeddingCls) } : {}),
    histogram_sum: r.colorHistogram.reduce((a, b) => a + b, 0),
    histogram_top_bins: topBins,
    tile_loc_x: range(r.tileLocX),
    tile_loc_y: range(r.tileLocY),
  };
}

function patientText(r: PatientRecord & { set: string; file: string }, info: DatasetJson): string {
  const j = patientJson(r, info);
  const f = (x: number) => x.toPrecision(4);
  const s = (x: ReturnType<typeof stats>) =>
    `mean ${f(x.mean)}, min ${f(x.min)}, max ${f(x.max)}${x.non_finite ? `, ${x.non_finite} NOT FINITE` : ''}`;
  return [
    `patient ${j.patient_id}: set ${j.set} (${j.file})`,
    `  center_id ${j.center_id}${j.center !== undefined ? ` (${j.center})` : ''}${j.label !== undefined ? `, label ${j.label} (${j.label_name})` : ''}`,
    `  ${j.num_tiles} tiles from ${j.slides.length} slide(s): ${j.slides.map((x) => `${x.slide} (${x.tiles})`).join(', ')}`,
    ...(['embedding_avg', 'embedding_max', 'embedding_cls'] as const).flatMap((k) => {
      const v = j[k];
      return v ? [`  ${k} [${j.num_tiles} x ${j.embedding_dim}]: ${s(v)}`] : [];
    }),
    `  color_histogram: sums to ${j.histogram_sum.toFixed(4)}; top bins ${j.histogram_top_bins.map((b) => `rgb(${b.r},${b.g},${b.b})+ ${(100 * b.fraction).toFixed(1)}%`).join(', ')}`,
    `  tile centres: x ${j.tile_loc_x.min}..${j.tile_loc_x.max}, y ${j.tile_loc_y.min}..${j.tile_loc_y.max} (level-0 px)`,
  ].join('\n');
}
