import {
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  FormGroup,
  FormSelect,
  FormSelectOption,
  Grid,
  GridItem,
  Title,
} from '@patternfly/react-core';
import { useState } from 'react';

import LoadError from '../../../utils/components/LoadError';
import Loading from '../../../utils/components/Loading';
import NoData from '../../../utils/components/NoData';
import SavingsBasis from '../../../utils/components/SavingsBasis';
import { formatDuration, formatNumber, formatPercent } from '../../../utils/format/format';
import { useHubQuery } from '../../../utils/hooks/useHubQuery';
import { useLocale } from '../../../utils/hooks/useLocale';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import HotFilesTable from './HotFilesTable';
import ImageBytesChart from './ImageBytesChart';
import ImageTimelineChart from './ImageTimelineChart';

/** Per image: startup timeline, bytes by source, prefetch hit ratio, hot files. */
const ImagesPanel = ({ since, reloadKey }: { since: string; reloadKey: number }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  const { data, error, refresh } = useHubQuery('images', { since }, { reloadKey });
  const [chosen, setChosen] = useState<string>();
  if (error) return <LoadError error={error} onRetry={refresh} />;
  if (!data) return <Loading />;
  if (data.items.length === 0) return <NoData title={t('No images pulled in this time range')} />;
  const image = data.items.find((i) => i.image === chosen) ?? data.items[0];
  return (
    <Grid hasGutter>
      <GridItem>
        <FormGroup label={t('Image')} fieldId="slipstream-image">
          <FormSelect
            id="slipstream-image"
            data-test="image-select"
            value={image.image}
            onChange={(_e, value) => setChosen(value)}
          >
            {data.items.map((i) => (
              <FormSelectOption key={i.image} value={i.image} label={i.image} />
            ))}
          </FormSelect>
        </FormGroup>
      </GridItem>
      <GridItem md={6}>
        <DescriptionList isHorizontal data-test="image-facts">
          <DescriptionListGroup>
            <DescriptionListTerm>{t('Pods, lazy / normal')}</DescriptionListTerm>
            <DescriptionListDescription>
              {formatNumber(image.pods.lazy, locale)} / {formatNumber(image.pods.normal, locale)}
            </DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>{t('Median time saved')}</DescriptionListTerm>
            <DescriptionListDescription>
              {image.savings.medianSeconds === null
                ? '—'
                : formatDuration(image.savings.medianSeconds, locale)}{' '}
              <SavingsBasis basis={image.savings.basis} />
            </DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>{t('Prefetch hit ratio')}</DescriptionListTerm>
            <DescriptionListDescription>
              {image.prefetchHitRatio === null
                ? '—'
                : // A ratio is at most 100 %; more would be a counting error, not a better prefetch.
                  formatPercent(Math.min(Math.max(image.prefetchHitRatio, 0), 1), locale)}
            </DescriptionListDescription>
          </DescriptionListGroup>
        </DescriptionList>
      </GridItem>
      <GridItem md={6}>
        <Title headingLevel="h2">{t('Startup timeline')}</Title>
        <ImageTimelineChart image={image} />
      </GridItem>
      <GridItem md={6}>
        <Title headingLevel="h2">{t('Bytes by source')}</Title>
        <ImageBytesChart image={image} />
      </GridItem>
      <GridItem md={6}>
        <Title headingLevel="h2">{t('Hot files')}</Title>
        <HotFilesTable image={image.image} />
      </GridItem>
    </Grid>
  );
};

export default ImagesPanel;
