/**
 * The pipelines' DAG over their input repos: a topological order, a cycle named as one, an unknown input repo
 * named with the spec file and field that refers to it.
 */
import { inputLeaves, type PipelineSpec } from './spec/pipeline-spec.js';
import { sourceOf } from './spec/load.js';
import { SpecError } from './spec/spec-error.js';

export interface PipelineOrderOptions {
  /** the spec file of each pipeline, by name, for error messages (defaults to the file parseSpecs saw) */
  files?: ReadonlyMap<string, string>;
}

/**
 * Pipelines in an order where each comes after every pipeline it reads. Among pipelines ready at the same
 * time the order of `specs` is kept, so the result is deterministic.
 * Throws SpecError on a pipeline named twice, a cycle (naming it: `a -> b -> a`), or an input repo that is
 * neither in `repos` nor a pipeline of `specs`.
 */
export function pipelineOrder(
  specs: PipelineSpec[],
  repos: ReadonlySet<string>,
  options: PipelineOrderOptions = {},
): PipelineSpec[] {
  const fileOf = (s: PipelineSpec): string | undefined => options.files?.get(s.pipeline.name) ?? sourceOf(s);
  const label = (s: PipelineSpec): string => {
    const f = fileOf(s);
    return f ? `${f} (pipeline ${s.pipeline.name})` : `pipeline ${s.pipeline.name}`;
  };

  const byName = new Map<string, PipelineSpec>();
  for (const s of specs) {
    const before = byName.get(s.pipeline.name);
    if (before) {
      throw new SpecError(
        `${label(s)}: pipeline.name: "${s.pipeline.name}" is already defined${fileOf(before) ? ` in ${fileOf(before)}` : ''}; pipeline names must be unique`,
        fileOf(s),
        'pipeline.name',
      );
    }
    byName.set(s.pipeline.name, s);
  }

  // upstream pipelines of each pipeline
  const deps = new Map<string, string[]>();
  for (const s of specs) {
    const ups: string[] = [];
    for (const { pfs, field } of inputLeaves(s.input)) {
      if (byName.has(pfs.repo)) {
        if (!ups.includes(pfs.repo)) ups.push(pfs.repo);
      } else if (!repos.has(pfs.repo)) {
        const known = [...repos].sort();
        const pipelines = [...byName.keys()].sort();
        throw new SpecError(
          `${label(s)}: ${field}.repo: input repo "${pfs.repo}" is neither a repo (${known.join(', ') || 'none'}) nor a pipeline (${pipelines.join(', ')})`,
          fileOf(s),
          `${field}.repo`,
        );
      }
    }
    deps.set(s.pipeline.name, ups);
  }

  const order: PipelineSpec[] = [];
  const done = new Set<string>();
  let remaining = [...specs];
  while (remaining.length > 0) {
    const ready = remaining.find((s) => deps.get(s.pipeline.name)!.every((d) => done.has(d)));
    if (!ready) {
      const cycle = findCycle(
        remaining.map((s) => s.pipeline.name),
        deps,
      );
      const first = byName.get(cycle[0])!;
      throw new SpecError(
        `${label(first)}: the pipelines form a cycle: ${cycle.join(' -> ')}; a pipeline cannot read its own output, directly or through others`,
        fileOf(first),
        'input',
      );
    }
    order.push(ready);
    done.add(ready.pipeline.name);
    remaining = remaining.filter((s) => s !== ready);
  }
  return order;
}

/** A cycle among the given pipelines, as a path that ends where it starts (`a -> b -> a`). */
function findCycle(names: string[], deps: ReadonlyMap<string, string[]>): string[] {
  const inSet = new Set(names);
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 'active');
    stack.push(n);
    for (const d of deps.get(n) ?? []) {
      if (!inSet.has(d)) continue;
      if (state.get(d) === 'active') {
        // the stack is a chain of readers (each reads the next); report it in data-flow order
        const from = stack.indexOf(d);
        return [d, ...stack.slice(from + 1).reverse(), d];
      }
      if (!state.has(d)) {
        const c = visit(d);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return null;
  };
  for (const n of names) {
    if (!state.has(n)) {
      const c = visit(n);
      if (c) return c;
    }
  }
  return names; // unreachable: a set with no ready pipeline always holds a cycle
}

/** The pipelines downstream of a repo (reading it directly or through other pipelines), in DAG order. */
export function downstreamOf(repo: string, ordered: PipelineSpec[]): PipelineSpec[] {
  const affected = new Set<string>([repo]);
  const out: PipelineSpec[] = [];
  for (const s of ordered) {
    if (inputLeaves(s.input).some(({ pfs }) => affected.has(pfs.repo))) {
      affected.add(s.pipeline.name);
      out.push(s);
    }
  }
  return out;
}

/** The pipelines that read `repo` itself (not through another pipeline). */
export function readersOfRepo(repo: string, ordered: PipelineSpec[]): PipelineSpec[] {
  return ordered.filter((s) => inputLeaves(s.input).some(({ pfs }) => pfs.repo === repo));
}

/** The pipelines a pipeline reads, directly or through other pipelines (`ordered`: DAG order). */
export function upstreamOf(pipeline: string, ordered: PipelineSpec[]): Set<string> {
  const byName = new Map(ordered.map((s) => [s.pipeline.name, s]));
  const out = new Set<string>();
  const visit = (name: string) => {
    const s = byName.get(name);
    if (!s) return;
    for (const { pfs } of inputLeaves(s.input)) {
      if (byName.has(pfs.repo) && !out.has(pfs.repo)) {
        out.add(pfs.repo);
        visit(pfs.repo);
      }
    }
  };
  visit(pipeline);
  return out;
}
