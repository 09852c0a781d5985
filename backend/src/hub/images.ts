// Image references as the hub keys them: normalised like containers/image does (docker.io,
// library/, :latest), so "busybox" in a pod spec and "docker.io/library/busybox:latest" from the
// agent's store path are the same image. Unparseable strings are kept verbatim. A reference is a
// series of builds (manifest digests): a tag rebuilt and pulled again is a new one.
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

/**
 * The build an image reference (an SQL expression) resolves to now: the one with the latest sign
 * that it does, its latest lazy pull or its first report, whichever is later. A new build is
 * first reported after the older one was; later reports of an older build (still running
 * somewhere, or sent late from an agent's spool) do not make it current again, a lazy pull of it
 * does. NULL when no build is known.
 */
export function currentBuildSql(image: string): string {
  return `(SELECT manifest FROM image_builds WHERE image = ${image}
    ORDER BY ${BUILD_SEEN_AT} DESC, manifest DESC LIMIT 1)`;
}

/**
 * When a build was last seen to be current (SQL over an image_builds row). Indexed as written
 * (db.ts, image_builds_current): currentBuildSql then reads one index entry, not every build.
 */
export const BUILD_SEEN_AT = 'max(coalesce(pulled_at, 0), coalesce(first_reported_at, 0))';
