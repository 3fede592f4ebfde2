/**
 * Pre-flight of a raw disk archive (`image.raw_disk.source`): what Compute reports only minutes
 * later as an asynchronous failure, checked in seconds from the object's metadata and first bytes.
 * Pure: the caller reads the object (a ranged read of HEAD_BYTES).
 */
export {
  checkDiskSectors,
  checkRawDisk,
  HEAD_BYTES,
  type PreflightResult,
  type PreflightWarning,
  type RawDiskObject,
} from "./check-raw-disk";
export { diskLabel, LABEL_BYTES, type DiskLabel } from "./disk-label";
export { firstMember, readMember, TarError, type TarFormat, type TarMember } from "./tar-header";
export {
  createRawDiskPreflight,
  createStorage,
  parseSource,
  type PreflightOptions,
  type RawDiskPreflight,
  type SourceVerdict,
  type StorageSettings,
} from "./read-source";
