import { hubPods } from '../../../utils/fixtures/hub';
import { filterPods, sortPods } from './podRows';

const pods = hubPods.items;

describe('filterPods', () => {
  it('filters by name, image and pull mode together', () => {
    expect(filterPods(pods, { name: '', image: '', mode: ['lazy'] }).every((p) => p.lazy)).toBe(
      true,
    );
    expect(
      filterPods(pods, { name: 'TOOLS/', image: '', mode: [] }).map((p) => p.namespace),
    ).toEqual(pods.filter((p) => p.namespace === 'tools').map((p) => p.namespace));
    expect(filterPods(pods, { name: '', image: 'no-such-image', mode: [] })).toEqual([]);
  });
});

describe('sortPods', () => {
  it('sorts both ways and keeps pods without a value last', () => {
    const asc = sortPods(pods, 'saved', 'asc');
    const desc = sortPods(pods, 'saved', 'desc');
    const withValue = pods.filter((p) => p.savings.seconds !== null).length;
    expect(asc.slice(withValue).every((p) => p.savings.seconds === null)).toBe(true);
    expect(desc.slice(withValue).every((p) => p.savings.seconds === null)).toBe(true);
    expect(asc[0].savings.seconds).toBe(Math.min(...pods.flatMap((p) => p.savings.seconds ?? [])));
    expect(desc[0].savings.seconds).toBe(Math.max(...pods.flatMap((p) => p.savings.seconds ?? [])));
    expect(sortPods(pods, undefined, undefined)).toEqual(pods);
  });
});
