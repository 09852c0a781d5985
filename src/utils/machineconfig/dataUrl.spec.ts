import { workerGeneratedContainerRuntimeMachineConfig } from '../fixtures/machineConfigs';
import { fromDataUrl, toDataUrl } from './dataUrl';

describe('data URLs', () => {
  it('writes the plain form with every reserved character percent-encoded', () => {
    expect(toDataUrl('d /var/lib/slipstream/store 0755 root root -\n')).toBe(
      'data:,d%20%2Fvar%2Flib%2Fslipstream%2Fstore%200755%20root%20root%20-%0A',
    );
    expect(fromDataUrl(toDataUrl('a,b;c%d #e\n'))).toBe('a,b;c%d #e\n');
  });

  it('reads the base64 form the MCO writes', () => {
    const source =
      workerGeneratedContainerRuntimeMachineConfig.spec.config?.storage?.files?.[0].contents
        ?.source;
    expect(fromDataUrl(source)).toContain(
      'additionallayerstores = ["/var/lib/slipstream/store:ref"]',
    );
    expect(fromDataUrl('data:;base64,aGVsbG8=')).toBe('hello');
  });

  it('reads nothing from other sources or broken encodings', () => {
    expect(fromDataUrl(undefined)).toBeUndefined();
    expect(fromDataUrl('https://example.com/file')).toBeUndefined();
    expect(fromDataUrl('data:,%E0%A4%A')).toBeUndefined();
    expect(fromDataUrl('data:;base64,***')).toBeUndefined();
  });
});
