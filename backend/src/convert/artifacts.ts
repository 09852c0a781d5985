// What in an image index is not an image to convert: BuildKit attestations, OCI 1.1 artifacts
// (cosign and notation signatures, SBOMs, Helm charts, WASM modules) and manifests whose layers
// are not tar (Windows images with foreign layers). The converter copies those unchanged.
import {
  MediaTypes,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
} from '../image/types.ts';

/** Layer media types the converter reads as tar (compressed or not). */
export const TAR_LAYER_TYPES = new Set<string>([
  MediaTypes.ociLayerGzip,
  MediaTypes.ociLayerZstd,
  MediaTypes.ociLayerTar,
  MediaTypes.dockerLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar',
]);

const IMAGE_CONFIG_TYPES = new Set<string>([MediaTypes.ociConfig, MediaTypes.dockerConfig]);

/**
 * Why a manifest is an artifact rather than an image (`an OCI artifact of type …`), or undefined
 * for an image: an artifactType, or a config that is not an image config (the OCI empty
 * descriptor, a Helm chart's, cosign's).
 */
export function artifactReason(manifest: Partial<ImageManifest>): string | undefined {
  if (manifest.artifactType) return `an OCI artifact of type ${manifest.artifactType}`;
  const config = manifest.config?.mediaType;
  if (config === undefined || !IMAGE_CONFIG_TYPES.has(config)) {
    return `an OCI artifact (config ${config ?? 'missing'})`;
  }
  return undefined;
}

/**
 * Why an index entry is copied as it is instead of converted, or undefined for an image to
 * convert. Besides artifacts: BuildKit attestations (platform unknown/unknown), a manifest that
 * refers to another (`subject`: a signature or an attestation, which others find and check by
 * its digest), and one with a layer that is not a tar.
 */
export function copiedUnchangedBecause(
  entry: Descriptor,
  manifest: Partial<ImageManifest>,
): string | undefined {
  if (entry.platform?.os === 'unknown') return 'an attestation';
  const artifact = artifactReason(manifest);
  if (artifact) return artifact;
  if (manifest.subject) return `it refers to ${manifest.subject.digest} (subject)`;
  const layer = (manifest.layers ?? []).find((l) => !TAR_LAYER_TYPES.has(l.mediaType));
  if (layer) return `its layer ${layer.digest} is ${layer.mediaType}, not a tar`;
  return undefined;
}

/**
 * Why an index is an artifact itself (OCI 1.1 allows artifactType and subject on indexes), to be
 * copied with everything it names, or undefined for an index of images.
 */
export function artifactIndexReason(index: Partial<ImageIndex>): string | undefined {
  if (index.artifactType) return `an artifact index of type ${index.artifactType}`;
  if (index.subject) return `an index that refers to ${index.subject.digest} (subject)`;
  return undefined;
}

/** What a copied manifest is, for messages: its artifactType, else its config's media type. */
export function artifactKind(manifest: Partial<ImageManifest & ImageIndex>): string {
  if (manifest.artifactType) return manifest.artifactType;
  const config = manifest.config?.mediaType;
  if (config === undefined) return 'an index';
  return IMAGE_CONFIG_TYPES.has(config) ? 'an image' : config;
}
