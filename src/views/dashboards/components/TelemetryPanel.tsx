import { Flex, FlexItem, FormGroup, FormSelect, FormSelectOption } from '@patternfly/react-core';
import { useState } from 'react';

import LoadError from '../../../utils/components/LoadError';
import Loading from '../../../utils/components/Loading';
import NoData from '../../../utils/components/NoData';
import { useHubQuery } from '../../../utils/hooks/useHubQuery';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import type { TimeRange } from '../../../utils/savings/savings';
import { rangeSeconds, rangeStep } from '../../../utils/savings/savings';
import TelemetryCharts from './TelemetryCharts';

/** Chunk fetch telemetry over time, for all nodes and images or one of each. */
const TelemetryPanel = ({
  since,
  until,
  range,
  reloadKey,
}: {
  since: string;
  until: string;
  range: TimeRange;
  reloadKey: number;
}) => {
  const { t } = useSlipstreamTranslation();
  const [node, setNode] = useState('');
  const [image, setImage] = useState('');
  const nodes = useHubQuery('nodes');
  const images = useHubQuery('images', { since });
  const series = useHubQuery(
    'timeseries',
    { start: since, end: until, step: rangeStep(range), node, image },
    { reloadKey },
  );
  const empty = series.data?.points.every(
    (p) => p.chunkFetchesPerSecond === 0 && p.bytesPerSecond === 0,
  );
  return (
    <>
      <Flex>
        <FlexItem>
          <FormGroup label={t('Node')} fieldId="slipstream-ts-node">
            <FormSelect
              id="slipstream-ts-node"
              data-test="ts-node"
              value={node}
              onChange={(_e, v) => setNode(v)}
            >
              <FormSelectOption value="" label={t('All nodes')} />
              {(nodes.data?.items ?? []).map((n) => (
                <FormSelectOption key={n.node} value={n.node} label={n.node} />
              ))}
            </FormSelect>
          </FormGroup>
        </FlexItem>
        <FlexItem>
          <FormGroup label={t('Image')} fieldId="slipstream-ts-image">
            <FormSelect
              id="slipstream-ts-image"
              data-test="ts-image"
              value={image}
              onChange={(_e, v) => setImage(v)}
            >
              <FormSelectOption value="" label={t('All images')} />
              {(images.data?.items ?? []).map((i) => (
                <FormSelectOption key={i.image} value={i.image} label={i.image} />
              ))}
            </FormSelect>
          </FormGroup>
        </FlexItem>
      </Flex>
      {series.error ? (
        <LoadError error={series.error} onRetry={series.refresh} />
      ) : !series.data ? (
        <Loading />
      ) : series.data.points.length === 0 || empty ? (
        <NoData title={t('No chunk fetches in this time range')} />
      ) : (
        <TelemetryCharts points={series.data.points} spanMs={rangeSeconds(range) * 1000} />
      )}
    </>
  );
};

export default TelemetryPanel;
