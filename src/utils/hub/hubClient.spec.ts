import { hubUrl } from './hubClient';

describe('hubUrl', () => {
  it('goes through the console proxy and drops empty parameters', () => {
    expect(hubUrl('pods', { namespace: 'shop', image: '', node: undefined, limit: 50 })).toBe(
      '/api/proxy/plugin/slipstream/hub/api/v1/pods?namespace=shop&limit=50',
    );
    expect(hubUrl('about')).toBe('/api/proxy/plugin/slipstream/hub/api/v1/about');
    expect(hubUrl('images/layers', { image: 'quay.io/a/b:1' })).toBe(
      '/api/proxy/plugin/slipstream/hub/api/v1/images/layers?image=quay.io%2Fa%2Fb%3A1',
    );
  });
});
