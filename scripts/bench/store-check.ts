/**
 * What SQLite's checks cost on a store of cohort size: a synthetic meta.sqlite as 20,000 slides committed one at a
 * time leave it (a slides commit each; per slide and per pipeline of nine: a job, its output commit with
 * provenance, a datum version with three outputs, three file versions), rows written straight into the schema.
 * Times opening the store, `PRAGMA quick_check` (before a store's first write) and `integrity_check` (gc, fsck).
 *
 *   node --import tsx scripts/bench/store-check.ts [--slides 20000] [--dir /tmp/x]
 */
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SCHEMA, SCHEMA_VERSION, VIEWS } from '../../engine/store/schema.js';
import { Store } from '../../engine/store/store.js';

const { values } = parseArgs({ options: { slides: { type: 'string', default: '20000' }, dir: { type: 'string' } } });
const SLIDES = Number(values.slides);
const PIPELINES = ['tile-detect', 'tile-extract', 'normalize', 'embed', 'histogram', 'mpp', 'assign', 'slide', 'shard'];
const home = values.dir ?? mkdtempSync(join(tmpdir(), 'tessella-check-'));
mkdirSync(home, { recursive: true });

const hex = (n: number, salt: string) => (salt + n.toString(16)).padStart(64, '0').slice(-64);
const db = new Database(join(home, 'meta.sqlite'));
db.pragma('journal_mode = WAL');
db.exec(SCHEMA);
db.exec(VIEWS);
db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
const t0 = performance.now();
db.transaction(() => {
  const now = new Date().toISOString();
  const repo = db.prepare(`INSERT INTO repos (name, created, pipeline) VALUES (?, ?, ?)`);
  const branch = db.prepare(`INSERT OR REPLACE INTO branches (repo, name, head) VALUES (?, 'master', ?)`);
  const commit = db.prepare(
    `INSERT INTO commits (id, repo, branch, parent, created, origin, job, n_files, size_bytes) VALUES (?, ?, 'master', ?, ?, ?, ?, ?, ?)`,
  );
  const file = db.prepare(
    `INSERT INTO files (repo, branch, path, added, removed, hash, size) VALUES (?, 'master', ?, ?, NULL, ?, ?)`,
  );
  const prov = db.prepare(`INSERT INTO provenance (commit_id, repo, branch, source) VALUES (?, 'slides', 'master', ?)`);
  const job = db.prepare(
    `INSERT INTO jobs (id, pipeline, version, salt, state, inputs, created) VALUES (?, ?, 1, 's', 'success', ?, ?)`,
  );
  const datum = db.prepare(
    `INSERT INTO datums (pipeline, id, since, until, job, hash, state, inputs) VALUES (?, ?, ?, NULL, ?, ?, 'success', '[]')`,
  );
  const out = db.prepare(`INSERT INTO datum_files (job, datum, path, hash, size) VALUES (?, ?, ?, ?, ?)`);
  repo.run('slides', now, null);
  for (const p of PIPELINES) {
    repo.run(p, now, p);
    db.prepare(
      `INSERT INTO pipelines (name, spec, salt, version, created, updated) VALUES (?, '{}', 's', 1, ?, ?)`,
    ).run(p, now, now);
  }
  const parent = new Map<string, string | null>();
  for (let s = 0; s < SLIDES; s++) {
    const sc = hex(s, 'c0');
    const seq = Number(
      commit.run(sc, 'slides', parent.get('slides') ?? null, now, 'user', null, s + 1, s).lastInsertRowid,
    );
    file.run('slides', `/s${s}/s${s}.svs`, seq, hex(s, 'b0'), 1e9);
    branch.run('slides', sc);
    parent.set('slides', sc);
    PIPELINES.forEach((p, i) => {
      const id = hex(s, `j${i}`);
      job.run(id, p, JSON.stringify([{ repo: 'slides', branch: 'master', commit: sc }]), now);
      const cseq = Number(commit.run(id, p, parent.get(p) ?? null, now, 'job', id, 3 * (s + 1), 0).lastInsertRowid);
      prov.run(id, sc);
      datum.run(p, hex(s, `d${i}`), cseq, id, hex(s, `h${i}`));
      for (const f of ['a.json', 'b.tfrecord', 'c.safetensors']) {
        const h = hex(s, `${i}${f[0]}`);
        file.run(p, `/s${s}/${f}`, cseq, h, 1000);
        out.run(id, hex(s, `d${i}`), `/s${s}/${f}`, h, 1000);
      }
      branch.run(p, id);
      parent.set(p, id);
    });
  }
})();
db.pragma('wal_checkpoint(TRUNCATE)');
db.close();
const bytes = statSync(join(home, 'meta.sqlite')).size;
console.log(
  `built ${SLIDES} slides: meta.sqlite ${(bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

function time<T>(label: string, fn: () => T, n = 3): T {
  let r!: T;
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    r = fn();
    ms.push(performance.now() - t);
  }
  console.log(`${label}: ${ms.map((m) => m.toFixed(1)).join(', ')} ms`);
  return r;
}

time('Store.open + close (what every verb pays)', () => Store.open(home).close());
time('Store.open + first write check (quick_check) + close', () => {
  const s = Store.open(home);
  s.refuseWritesIfDamaged();
  s.close();
});
const raw = new Database(join(home, 'meta.sqlite'));
time('PRAGMA quick_check', () => raw.pragma('quick_check'));
time('PRAGMA integrity_check', () => raw.pragma('integrity_check'));
raw.close();
console.log(`store: ${home}`);
