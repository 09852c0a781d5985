// Jest stand-in for the console SDK. At runtime the console provides the SDK through module
// federation; in jsdom there is no console, so every function the plugin calls is a typed jest.fn
// that a test drives (mockReturnValue / mockResolvedValue) and inspects.
import type * as SDK from '@openshift-console/dynamic-plugin-sdk';

export const useK8sWatchResource = jest.fn(() => [
  undefined,
  true,
  undefined,
]) as unknown as jest.MockedFunction<typeof SDK.useK8sWatchResource>;

export const useAccessReview = jest.fn(() => [true, false]) as unknown as jest.MockedFunction<
  typeof SDK.useAccessReview
>;

export const useFlag = jest.fn(() => true) as unknown as jest.MockedFunction<typeof SDK.useFlag>;

export const consoleFetchJSON = Object.assign(
  jest.fn(() => Promise.resolve({})),
  { put: jest.fn(), post: jest.fn(), patch: jest.fn(), delete: jest.fn() },
) as unknown as jest.MockedFunction<typeof SDK.consoleFetchJSON> & typeof SDK.consoleFetchJSON;

export const k8sPatch = jest.fn((options: { resource: unknown }) =>
  Promise.resolve(options.resource),
) as unknown as jest.MockedFunction<typeof SDK.k8sPatch>;

export const k8sCreate = jest.fn((options: { data: unknown }) =>
  Promise.resolve(options.data),
) as unknown as jest.MockedFunction<typeof SDK.k8sCreate>;

export const k8sDelete = jest.fn(() => Promise.resolve({})) as unknown as jest.MockedFunction<
  typeof SDK.k8sDelete
>;

export const k8sGet = jest.fn(() => Promise.resolve({})) as unknown as jest.MockedFunction<
  typeof SDK.k8sGet
>;

export const DocumentTitle: typeof SDK.DocumentTitle = () => null;

export const ResourceLink: typeof SDK.ResourceLink = ({ name, children }) => (
  <span data-test="resource-link">
    {name}
    {children}
  </span>
);
