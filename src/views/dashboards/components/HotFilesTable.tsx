import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';

import LoadError from '../../../utils/components/LoadError';
import Loading from '../../../utils/components/Loading';
import NoData from '../../../utils/components/NoData';
import { formatBytes } from '../../../utils/format/format';
import { useHubQuery } from '../../../utils/hooks/useHubQuery';
import { useLocale } from '../../../utils/hooks/useLocale';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';

const TOP = 15;

/**
 * The files read most (bytes fetched) across the image's layers. The hub sends the layers with
 * the most-read file first, so its first page holds them however many layers the image has.
 */
const HotFilesTable = ({ image }: { image: string }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  const { data, error, refresh } = useHubQuery('images/layers', { image });
  if (error) return <LoadError error={error} onRetry={refresh} />;
  if (!data) return <Loading />;
  const files = data.items
    .flatMap((layer) => layer.hotFiles.map((f) => ({ ...f, layer: layer.digest })))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, TOP);
  if (files.length === 0) return <NoData title={t('No file reads recorded')} />;
  return (
    <Table aria-label={t('Hot files')} variant="compact" data-test="hot-files">
      <Thead>
        <Tr>
          <Th>{t('File')}</Th>
          <Th>{t('Bytes read')}</Th>
          <Th>{t('Layer')}</Th>
        </Tr>
      </Thead>
      <Tbody>
        {files.map((f) => (
          <Tr key={`${f.layer}${f.path}`}>
            <Td dataLabel={t('File')}>{f.path}</Td>
            <Td dataLabel={t('Bytes read')}>{formatBytes(f.bytes, locale)}</Td>
            <Td dataLabel={t('Layer')}>{f.layer.slice(0, 19)}</Td>
          </Tr>
        ))}
      </Tbody>
    </Table>
  );
};

export default HotFilesTable;
