// Ignition file contents are RFC 2397 data URLs. The wizard writes the plain, percent-encoded form
// (`data:,…`); the MCO writes base64 (`data:text/plain;charset=utf-8;base64,…`); both are read.

/** Text as a `data:,` URL, every reserved character percent-encoded. */
export const toDataUrl = (text: string): string => `data:,${encodeURIComponent(text)}`;

const decodeBase64 = (data: string): string => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
};

/** The text a data URL holds, or undefined for anything else (another scheme, bad encoding). */
export const fromDataUrl = (source: string | undefined): string | undefined => {
  const match = /^data:([^,]*),(.*)$/s.exec(source ?? '');
  if (!match) return undefined;
  const [, mediaType, data] = match;
  try {
    return mediaType.split(';').includes('base64')
      ? decodeBase64(decodeURIComponent(data))
      : decodeURIComponent(data);
  } catch {
    return undefined;
  }
};
