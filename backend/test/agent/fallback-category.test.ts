// The reason a lookup fell back becomes one label of a closed set (the fallback metric's
// `reason`, which docs/operations.md explains to an admin). Checked with the sentences the store
// and the registry client actually write.
import { fallbackCategory } from '../../src/agent/agent.ts';

it.each([
  ['not resolved within 10000 ms', 'timeout'],
  ['not eStargz: no toc.digest annotation', 'not-lazy-format'],
  [
    'the manifest lists layer sha256:ab more than once, and the runtime cannot stack one store directory twice (overlay refuses a repeated lower dir): pulled normally',
    'unsupported-manifest',
  ],
  ['something nobody foresaw', 'other'],
])('%s → %s', (reason, category) => {
  expect(fallbackCategory(reason)).toBe(category);
});
