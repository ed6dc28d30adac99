/**
 * H&E-like pixels: eosin-pink stroma whose shade drifts slowly, haematoxylin-purple nuclei on a jittered cell
 * grid, fine grain, on an off-white glass background. Every pixel is a pure function of its level-0 position, so
 * pyramid levels agree (a level pixel samples the point at its centre). Tissue pixels keep G well below 190 and
 * background pixels keep R, G, B above 220, so tissue detection sees the layout at every level.
 */
import { fieldAt, type TissueField } from './layout.js';
import { hash01, valueNoise } from './noise.js';

/** Nucleus grid pitch in level-0 pixels (20x: nuclei ~8-12 px across). */
const CELL = 18;

const EOSIN_LIGHT = [238, 168, 206];
const EOSIN_DARK = [206, 112, 168];
const HEMATOXYLIN = [86, 52, 138];
const GLASS = [240, 238, 242];

export type TileKind = 'background' | 'tissue' | 'mixed';

/**
 * Fill `out` (size*size*3) with the tile whose top-left level-0 point is (x0, y0), `step` level-0 pixels per
 * output pixel. `kind` 'mixed' consults the field per pixel; 'tissue' and 'background' skip it. `shift` moves the
 * texture (not the layout), to make interior variants.
 */
export function renderTile(
  out: Buffer,
  size: number,
  x0: number,
  y0: number,
  step: number,
  kind: TileKind,
  field: TissueField | undefined,
  seed: number,
  shift = 0,
): void {
  for (let py = 0, o = 0; py < size; py++) {
    const y = y0 + (py + 0.5) * step;
    for (let px = 0; px < size; px++, o += 3) {
      const x = x0 + (px + 0.5) * step;
      const grain = (hash01(seed, Math.floor(x) + shift, Math.floor(y), 7) - 0.5) * 10;
      const tissue = kind === 'tissue' || (kind === 'mixed' && field !== undefined && fieldAt(field, x, y) > 0);
      if (!tissue) {
        out[o] = GLASS[0] + grain * 0.5;
        out[o + 1] = GLASS[1] + grain * 0.5;
        out[o + 2] = GLASS[2] + grain * 0.5;
        continue;
      }
      const tx = x + shift;
      const shade = valueNoise(seed ^ 0xe051, tx / 220, y / 220);
      let r = EOSIN_LIGHT[0] + (EOSIN_DARK[0] - EOSIN_LIGHT[0]) * shade;
      let g = EOSIN_LIGHT[1] + (EOSIN_DARK[1] - EOSIN_LIGHT[1]) * shade;
      let b = EOSIN_LIGHT[2] + (EOSIN_DARK[2] - EOSIN_LIGHT[2]) * shade;
      // The nucleus of this grid cell, if it has one: centre jittered inside the cell, radius 3.5..6.
      const cx = Math.floor(tx / CELL);
      const cy = Math.floor(y / CELL);
      const density = valueNoise(seed ^ 0xd3, tx / 900, y / 900);
      if (hash01(seed, cx, cy, 1) < 0.25 + 0.5 * density) {
        const rad = 3.5 + 2.5 * hash01(seed, cx, cy, 2);
        const nx = cx * CELL + rad + (CELL - 2 * rad) * hash01(seed, cx, cy, 3);
        const ny = cy * CELL + rad + (CELL - 2 * rad) * hash01(seed, cx, cy, 4);
        const d = Math.hypot(tx - nx, y - ny) / rad;
        if (d < 1) {
          // Darker rim (chromatin at the membrane).
          const k = d > 0.75 ? 1 : 0.85;
          r = HEMATOXYLIN[0] * k;
          g = HEMATOXYLIN[1] * k;
          b = HEMATOXYLIN[2] * k;
        }
      }
      out[o] = r + grain;
      out[o + 1] = g + grain;
      out[o + 2] = b + grain;
    }
  }
}
