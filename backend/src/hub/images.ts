// Image references as the hub keys them: normalised like containers/image does (docker.io,
// library/, :latest), so "busybox" in a pod spec and "docker.io/library/busybox:latest" from the
// agent's store path are the same image. Unparseable strings are kept verbatim.
import { formatReference, parseReference } from '../registry/reference.ts';

export function normalizeImage(ref: string): string {
  try {
    return formatReference(parseReference(ref));
  } catch {
    return ref.trim();
  }
}

/** The digest in a container status imageID (`repo@sha256:…`, `docker-pullable://…@sha256:…`, `sha256:…`). */
export function digestFromImageId(imageId: string | undefined | null): string | null {
  if (!imageId) return null;
  const match = /([a-z0-9]+:[a-f0-9]{32,})$/.exec(imageId);
  return match ? match[1] : null;
}
