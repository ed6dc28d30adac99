/** tiles.json moved to the stage contract; this path stays while other branches still import it. */
export {
  readTilesJson,
  TILES_JSON_VERSION,
  TileSchema,
  TilesJsonSchema,
  type Tile,
  type TilesJson,
} from '../contract/tiles-json.js';
export { TILES_JSON } from '../contract/files.js';
