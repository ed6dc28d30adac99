/** Tile detection on an opened slide: overview strips, grid, tissue rule, and the tiles.json it amounts to. */
import { basename } from 'node:path';
import { TILES_JSON_VERSION, type TilesJson } from '../../shared/contract/index.js';
import type { Overview, OverviewGeometry, RgbImage, Slide } from '../../shared/slide/index.js';
import { physicalTileUm, type DetectConfig } from './config.js';
import { planPhysicalTile, type PhysicalTile } from './physical-tile.js';
import { ThumbnailBuilder } from './qc.js';
import { tissueHistogram } from './tissue-histogram.js';
import {
  GridMeasurer,
  gridOf,
  measureGrid,
  selectTiles,
  TileStatus,
  type GridMeasure,
  type GridSpec,
  type Selection,
} from './tissue.js';

export interface Detection {
  overview: OverviewGeometry;
  grid: GridSpec;
  selection: Selection;
  tilesJson: TilesJson;
}

export interface StreamedDetection {
  detection: Detection;
  /** The QC thumbnail, built from the same strips. */
  thumbnail: RgbImage;
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/**
 * The rule strip by strip: the overview is read as horizontal strips, each strip's pixels are counted into its
 * tiles and shrunk into the QC thumbnail, then dropped, so memory does not grow with the slide. The counts are
 * integers, so the tiles are exactly those of the rule on the whole overview (`detectOnOverview`).
 */
export async function detectTiles(
  slide: Slide,
  slideId: string,
  config: DetectConfig,
  manifestMpp?: number,
): Promise<Detection> {
  return (await detectTilesStreamed(slide, slideId, config, manifestMpp)).detection;
}

export async function detectTilesStreamed(
  slide: Slide,
  slideId: string,
  config: DetectConfig,
  /** the manifest's resolution, used only for physical tiles (the default path does not read it) */
  manifestMpp?: number,
): Promise<StreamedDetection> {
  // Physical tiles (TILE_UM / TARGET_MPP): the grid and the tissue rule's view follow the tile's side in level-0 px.
  const tileUm = physicalTileUm(config);
  const physical =
    tileUm === undefined
      ? undefined
      : planPhysicalTile(
          { tileUm, outputPx: config.TILE_SIZE, downsample: config.DOWNSAMPLE },
          slide.levels,
          slide.mpp,
          manifestMpp,
        );
  const { geometry, strips } = slide.overviewStrips(physical?.overviewDownsample ?? config.DOWNSAMPLE);
  const { width, height } = slide.levels[0];
  const grid = gridOf(width, height, physical?.level0Px ?? config.TILE_SIZE, geometry.scaleX, geometry.scaleY);
  const measurer = new GridMeasurer(grid, geometry.width, geometry.height, config.BACKGROUND_THRESHOLD);
  const thumbnail = new ThumbnailBuilder(geometry.width, geometry.height, config.QC_MAX_SIDE);
  for await (const strip of strips) {
    for (const p of strip.pieces) measurer.addPiece(strip.y, strip.rows, p.x, p.width, p.data);
    thumbnail.addStrip(strip);
  }
  const detection = detectionOf(slide, geometry, measurer.result(), slideId, config);
  if (physical) detection.tilesJson = withPhysical(detection.tilesJson, physical);
  return { detection, thumbnail: thumbnail.finish() };
}

/** The rule on a whole overview already read (the reference the strip path equals). */
export function detectOnOverview(slide: Slide, overview: Overview, slideId: string, config: DetectConfig): Detection {
  const { width, height } = slide.levels[0];
  const grid = gridOf(width, height, config.TILE_SIZE, overview.scaleX, overview.scaleY);
  const { data: _pixels, ...geometry } = overview;
  return detectionOf(slide, geometry, measureGrid(overview, grid, config.BACKGROUND_THRESHOLD), slideId, config);
}

/** tiles.json with the physical tile's facts, placed before the tiles (the file reads top-down). */
function withPhysical(t: TilesJson, p: PhysicalTile): TilesJson {
  const { tiles, ...rest } = t;
  const physical = {
    mpp: round6(p.mpp),
    mpp_source: p.mppSource,
    ...(p.mppSource === 'manifest' ? { slide_mpp: t.source.mpp } : {}),
    tile_um: p.tileUm,
    tile_px_level0: p.level0Px,
    output_px: p.outputPx,
    overview_downsample: round6(p.overviewDownsample),
    read_level: p.readLevel,
    read_downsample: p.readDownsample,
    read_px: p.readPx,
  };
  return { ...rest, physical, tiles };
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

function detectionOf(
  slide: Slide,
  overview: OverviewGeometry,
  measure: GridMeasure,
  slideId: string,
  config: DetectConfig,
): Detection {
  const { width, height } = slide.levels[0];
  const grid = measure.grid;
  const maxTiles = config.MAX_TILES > 0 ? config.MAX_TILES : undefined;
  const selection = selectTiles(measure, config.MAX_BACKGROUND_FRACTION, maxTiles);

  const tiles: TilesJson['tiles'] = [];
  for (let t = 0; t < selection.status.length; t++) {
    if (selection.status[t] !== TileStatus.Kept) continue;
    const col = t % grid.cols;
    const row = Math.floor(t / grid.cols);
    tiles.push({
      col,
      row,
      x: col * grid.tileSize,
      y: row * grid.tileSize,
      tissue_fraction: round4(selection.tissueFraction[t]),
    });
  }

  const tilesJson: TilesJson = {
    version: TILES_JSON_VERSION,
    slide: slideId,
    source: {
      file: basename(slide.path),
      reader: slide.reader,
      vendor: slide.vendor,
      width,
      height,
      levels: slide.levels.map((l) => ({ width: l.width, height: l.height, downsample: l.downsample })),
      mpp: slide.mpp ?? null,
      objective_power: slide.objectivePower ?? null,
    },
    params: {
      tile_size: config.TILE_SIZE,
      downsample: config.DOWNSAMPLE,
      background_threshold: config.BACKGROUND_THRESHOLD,
      max_background_fraction: config.MAX_BACKGROUND_FRACTION,
      max_tiles: maxTiles ?? null,
    },
    overview: {
      level: overview.level,
      level_downsample: overview.levelDownsample,
      width: overview.width,
      height: overview.height,
    },
    grid: { cols: grid.cols, rows: grid.rows },
    counts: {
      grid: grid.cols * grid.rows,
      kept: selection.kept,
      dropped: { background: selection.droppedBackground, max_tiles: selection.droppedMaxTiles },
    },
    ...(tiles.length === 0 ? { reason: whyNoTiles(width, height, grid, selection, config) } : {}),
    tissue_histogram: tissueHistogram(selection.tissueFraction),
    tiles,
  };
  return { overview, grid, selection, tilesJson };
}

function whyNoTiles(width: number, height: number, grid: GridSpec, s: Selection, config: DetectConfig): string {
  if (grid.cols === 0 || grid.rows === 0) {
    return `the slide (${width}x${height} px) is smaller than one ${grid.tileSize}x${grid.tileSize} tile`;
  }
  let most = 0;
  for (const f of s.tissueFraction) most = Math.max(most, f);
  return (
    `no tile has at most ${round4(config.MAX_BACKGROUND_FRACTION * 100)}% background ` +
    `(background: R, G and B > ${config.BACKGROUND_THRESHOLD}); the tissue-richest of ${grid.cols * grid.rows} tiles has ` +
    `${round4(most * 100)}% tissue: the slide looks empty or too pale`
  );
}
