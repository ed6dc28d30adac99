/**
 * Where the tissue is: a field over the slide, positive on tissue, sampled on a coarse grid (about 512
 * samples a side) and interpolated bilinearly, so edges are smooth at every scale and the field stays a few MB
 * whatever the slide's size. Shapes are irregular blobs, a wavy band, or scattered fragments, scaled so
 * the tissue covers the requested fraction.
 */
import { mulberry32, valueNoise } from './noise.js';

export type Layout = 'blobs' | 'band' | 'scattered';
export const LAYOUTS: readonly Layout[] = ['blobs', 'band', 'scattered'];

export interface TissueField {
  /** Level-0 pixels per field sample. */
  cell: number;
  cols: number;
  rows: number;
  values: Float32Array;
  /** Share of the slide the field marks as tissue. */
  fraction: number;
}

interface Blob {
  cx: number;
  cy: number;
  r: number;
  /** Elongation and rotation. */
  stretch: number;
  angle: number;
  phases: [number, number, number];
}

/**
 * A shape as a scale-free distance: < 1 inside the shape at scale 1, growing outward; a point lies in the shape
 * scaled by s when its distance is below s. Scaling then never re-evaluates the shape.
 */
type Shape = (x: number, y: number) => number;

function blobsShape(rand: () => number, width: number, height: number, count: number, size: number): Shape {
  const side = Math.min(width, height);
  const blobs: Blob[] = Array.from({ length: count }, () => ({
    cx: width * (0.12 + 0.76 * rand()),
    cy: height * (0.12 + 0.76 * rand()),
    r: side * size * (0.6 + 0.8 * rand()),
    stretch: 1 + rand() * 0.8,
    angle: rand() * Math.PI,
    phases: [rand() * 6.3, rand() * 6.3, rand() * 6.3],
  }));
  return (x, y) => {
    let best = Infinity;
    for (const b of blobs) {
      const dx = x - b.cx;
      const dy = y - b.cy;
      const c = Math.cos(b.angle);
      const s = Math.sin(b.angle);
      const u = (dx * c + dy * s) / b.stretch;
      const v = -dx * s + dy * c;
      const dist = Math.hypot(u, v);
      // The wobble is at most 1.34x: a blob that cannot beat the best so far skips the trigonometry.
      if (dist / (b.r * 1.34) >= best) continue;
      const theta = Math.atan2(v, u);
      const wobble =
        1 +
        0.18 * Math.sin(3 * theta + b.phases[0]) +
        0.1 * Math.sin(5 * theta + b.phases[1]) +
        0.06 * Math.sin(9 * theta + b.phases[2]);
      best = Math.min(best, dist / (b.r * wobble));
    }
    return best;
  };
}

function bandShape(rand: () => number, width: number, height: number): Shape {
  const amp = height * (0.08 + 0.1 * rand());
  const freq = ((2 + rand() * 2) * Math.PI) / width;
  const phase = rand() * 6.3;
  const half = height * 0.2;
  return (x, y) => Math.abs(y - (height / 2 + amp * Math.sin(freq * x + phase))) / half;
}

/** The field on a coarse grid, the shapes scaled so the tissue covers `fraction` of the samples. */
export function makeTissueField(
  width: number,
  height: number,
  fraction: number,
  layout: Layout,
  seed: number,
): TissueField {
  const rand = mulberry32(seed);
  const shape =
    layout === 'band'
      ? bandShape(rand, width, height)
      : layout === 'scattered'
        ? blobsShape(rand, width, height, 24 + Math.floor(rand() * 24), 0.05)
        : blobsShape(rand, width, height, 3 + Math.floor(rand() * 4), 0.18);
  const side = Math.max(width, height);
  // Ragged edges: low-frequency noise stretches or shrinks the shapes locally by up to 15%.
  const edgeSeed = seed ^ 0x51ed;
  const ragged = (x: number, y: number) => 1 + 0.3 * (valueNoise(edgeSeed, (x / side) * 40, (y / side) * 40) - 0.5);
  const cell = Math.max(8, Math.ceil(side / 512));
  const cols = Math.ceil(width / cell) + 1;
  const rows = Math.ceil(height / cell) + 1;

  // Each sample's critical scale: it is tissue once the shapes are scaled beyond it.
  const critical = new Float32Array(cols * rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) critical[r * cols + c] = shape(c * cell, r * cell) / ragged(c * cell, r * cell);
  }
  // The scale that covers `fraction` of the samples inside the slide: a quantile of the critical scales.
  const inside: number[] = [];
  for (let r = 0; r * cell < height; r++) for (let c = 0; c * cell < width; c++) inside.push(critical[r * cols + c]);
  inside.sort((a, b) => a - b);
  const k = Math.round(fraction * inside.length);
  const scale =
    k <= 0 ? 0 : k >= inside.length ? inside[inside.length - 1] * 1.01 + 1 : (inside[k - 1] + inside[k]) / 2;

  const values = new Float32Array(cols * rows);
  for (let i = 0; i < values.length; i++) values[i] = scale > 0 ? 1 - critical[i] / scale : -1;
  return { cell, cols, rows, values, fraction: inside.length ? k / inside.length : 0 };
}

/** The field at level-0 point (x, y), bilinear between samples. */
export function fieldAt(f: TissueField, x: number, y: number): number {
  const gx = Math.min(f.cols - 1.000001, Math.max(0, x / f.cell));
  const gy = Math.min(f.rows - 1.000001, Math.max(0, y / f.cell));
  const c = Math.floor(gx);
  const r = Math.floor(gy);
  const fx = gx - c;
  const fy = gy - r;
  const i = r * f.cols + c;
  const v = f.values;
  return (
    v[i] * (1 - fx) * (1 - fy) + v[i + 1] * fx * (1 - fy) + v[i + f.cols] * (1 - fx) * fy + v[i + f.cols + 1] * fx * fy
  );
}

/** Min and max of the field over a level-0 rectangle (its samples and their neighbours, conservatively). */
export function fieldRange(
  f: TissueField,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
): { min: number; max: number } {
  const c0 = Math.max(0, Math.floor(x0 / f.cell));
  const r0 = Math.max(0, Math.floor(y0 / f.cell));
  const c1 = Math.min(f.cols - 1, Math.ceil(x1 / f.cell));
  const r1 = Math.min(f.rows - 1, Math.ceil(y1 / f.cell));
  let min = Infinity;
  let max = -Infinity;
  for (let r = r0; r <= r1; r++) {
    for (let c = c0; c <= c1; c++) {
      const v = f.values[r * f.cols + c];
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return { min, max };
}
