// The cluster the host shows: recorded object shapes (src/utils/fixtures), with worker nodes named
// like the hub's agents so that agent health joins real hub data.
export { cluster } from '../../src/utils/fixtures/cluster';
