/**
 * manifest-mpp: container entry. Input (manifest-mpp.yaml): `manifest` glob `/`. Writes `/mpp/<slide>.json` for each
 * manifest row that gives a resolution (MPP_COLUMN), read by tile-detect; the work is in mpp-column.ts. Fails the
 * datum (exit 1) only for a manifest it cannot take the resolutions from, naming the line, column and value.
 */
import { inputPath } from '../../shared/pfs.js';
import { stageMain } from '../../shared/stage-main.js';
import { readManifestMppConfig } from './config.js';
import { runManifestMpp } from './mpp-column.js';

stageMain('manifest-mpp', ({ env, log }) => {
  const config = readManifestMppConfig();
  const { column, overrides } = runManifestMpp(inputPath('manifest'), env.outDir, config);
  if (!column) log.info('no resolution column', { column: config.MPP_COLUMN, file: config.MANIFEST_FILE });
  log.info('resolutions', { slides: overrides.length, column: config.MPP_COLUMN });
});
