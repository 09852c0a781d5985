import { consoleFetchJSON } from '@openshift-console/dynamic-plugin-sdk';
import { act, render, screen } from '@testing-library/react';

import { hubPods } from '../../utils/fixtures/hub';
import { lazyPod } from '../../utils/fixtures/pods';
import { mockHub } from '../../utils/fixtures/sdkMocks';
import PodStartupTab from './PodStartupTab';

describe('PodStartupTab', () => {
  it('shows the phases from the pod and the hub savings of that pod', async () => {
    const known = hubPods.items.find((p) => p.lazy && p.savings.seconds !== null);
    if (!known) throw new Error('fixture has no lazy pod with savings');
    mockHub({ pods: hubPods });
    const pod = { ...lazyPod, metadata: { ...lazyPod.metadata, uid: known.uid } };
    render(<PodStartupTab obj={pod} />);
    const phases = screen.getByTestId('phase-timeline');
    expect(phases).toHaveTextContent('First container started');
    expect(phases).toHaveTextContent('9 sec'); // created 07:40:02 → Ready 07:40:11
    expect(await screen.findByTestId('pod-savings')).toHaveTextContent(
      'Measured against normal pulls',
    );
  });

  it('says when the hub has no record of the pod', async () => {
    mockHub({ pods: hubPods });
    const pod = { ...lazyPod, metadata: { ...lazyPod.metadata, uid: 'not-recorded' } };
    render(<PodStartupTab obj={pod} />);
    expect(await screen.findByText('No startup record for this pod')).toBeInTheDocument();
    expect(screen.queryByTestId('pod-savings')).not.toBeInTheDocument();
  });

  it('shows the hub query loading, then its error', async () => {
    let fail: (e: Error) => void = () => undefined;
    jest
      .mocked(consoleFetchJSON)
      .mockImplementation(() => new Promise((_resolve, reject) => (fail = reject)));
    render(<PodStartupTab obj={lazyPod} />);
    expect(screen.getByRole('progressbar', { name: 'Loading' })).toBeInTheDocument();
    act(() => fail(new Error('503 hub unavailable')));
    expect(await screen.findByText('Could not load data')).toBeInTheDocument();
    expect(screen.queryByRole('progressbar', { name: 'Loading' })).not.toBeInTheDocument();
  });
});
