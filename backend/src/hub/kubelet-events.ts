// Parsing the kubelet's image events (reason "Pulled"; pkg/kubelet/images/image_manager.go).
// Message forms, all handled:
//   Successfully pulled image "<img>" in <pull> (<total> including waiting). Image size: <n> bytes.
//   Successfully pulled image "<img>" in <pull> (<total> including waiting)      (before image size)
//   Successfully pulled image "<img>" in <pull>                                  (older kubelets)
//   Container image "<img>" already present on machine
//   Container image "<img>" already present on machine and can be accessed by the pod
// Durations are Go time.Duration strings (1.234s, 2m3.5s, 850ms, 1h0m0s, 12µs).

export type PulledEvent =
  | {
      kind: 'pulled';
      image: string;
      pullSeconds: number;
      totalSeconds: number | null;
      imageSizeBytes: number | null;
    }
  | { kind: 'already-present'; image: string };

const UNIT_SECONDS: Record<string, number> = {
  h: 3600,
  m: 60,
  s: 1,
  ms: 1e-3,
  us: 1e-6,
  µs: 1e-6,
  μs: 1e-6,
  ns: 1e-9,
};

/** Parses a Go time.Duration string into seconds; null when it is not one. */
export function parseGoDuration(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|μs|ns)/gy;
  let total = 0;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = re.exec(trimmed)) !== null) {
    total += Number(match[1]) * (UNIT_SECONDS[match[2] ?? ''] ?? NaN);
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== trimmed.length || !Number.isFinite(total)) return null;
  return total;
}

const PULLED =
  /^Successfully pulled image "([^"]+)" in (\S+?)(?: \((\S+?) including waiting\))?(?:\. Image size: (\d+) bytes)?\.?$/;
const PRESENT =
  /^Container image "([^"]+)" already present on machine(?: and can be accessed by the pod)?\.?$/;

/** Parses the message of a kubelet "Pulled" event; null for any other text. */
export function parsePulledMessage(message: string): PulledEvent | null {
  const text = message.trim();
  const present = PRESENT.exec(text);
  if (present) return { kind: 'already-present', image: present[1] };
  const pulled = PULLED.exec(text);
  if (!pulled) return null;
  const pullSeconds = parseGoDuration(pulled[2]);
  if (pullSeconds === null) return null;
  const totalSeconds = pulled[3] === undefined ? null : parseGoDuration(pulled[3]);
  return {
    kind: 'pulled',
    image: pulled[1],
    pullSeconds,
    totalSeconds,
    imageSizeBytes: pulled[4] === undefined ? null : Number(pulled[4]),
  };
}

/** The container name from an event's involvedObject.fieldPath (`spec.containers{name}`). */
export function containerFromFieldPath(fieldPath: string | undefined): string | null {
  if (!fieldPath) return null;
  const match = /^spec\.(?:initContainers|containers|ephemeralContainers)\{([^}]+)\}$/.exec(
    fieldPath,
  );
  return match ? match[1] : null;
}
