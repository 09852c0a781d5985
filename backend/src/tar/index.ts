// Hand-written tar codec used by the eStargz writer, the converter and tests.
export {
  BLOCK,
  TarError,
  TarType,
  encodeHeader,
  newHeader,
  paddingFor,
  type TarHeader,
} from './header.ts';
export { readTar, type TarEntry, type TarReadOptions } from './reader.ts';
export { END_OF_ARCHIVE, buildTar, padding, type TarInput } from './writer.ts';
