import { Label, Pagination } from '@patternfly/react-core';
import {
  DataView,
  DataViewCheckboxFilter,
  DataViewTable,
  DataViewTextFilter,
  DataViewToolbar,
  useDataViewFilters,
  useDataViewPagination,
  useDataViewSort,
} from '@patternfly/react-data-view';
// Not re-exported from the package index in 6.4.0.
import DataViewFilters from '@patternfly/react-data-view/dist/dynamic/DataViewFilters';
import type { ThProps } from '@patternfly/react-table';
import { Tbody, Td, Tr } from '@patternfly/react-table';
import { useMemo } from 'react';

import NoData from '../../../utils/components/NoData';
import SavingsBasis from '../../../utils/components/SavingsBasis';
import { formatDateTime, formatDuration } from '../../../utils/format/format';
import { useLocale } from '../../../utils/hooks/useLocale';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import type { PodStartup } from '../../../utils/types/hub';
import type { PodFilters, SortKey } from './podRows';
import { filterPods, sortPods } from './podRows';

const PER_PAGE = 20;

/** Per-pod startup savings: sortable, filterable (name, image, lazy/normal), paginated. */
const PodSavingsTable = ({ pods }: { pods: PodStartup[] }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  const { filters, onSetFilters, clearAllFilters } = useDataViewFilters<PodFilters>({
    initialFilters: { name: '', image: '', mode: [] },
  });
  const { sortBy, direction, onSort } = useDataViewSort({
    initialSort: { sortBy: 'createdAt', direction: 'desc' },
  });
  const pagination = useDataViewPagination({ perPage: PER_PAGE });
  const visible = useMemo(
    () => sortPods(filterPods(pods, filters), sortBy as SortKey | undefined, direction),
    [pods, filters, sortBy, direction],
  );
  const page = visible.slice(
    (pagination.page - 1) * pagination.perPage,
    pagination.page * pagination.perPage,
  );
  const duration = (s: number | null) => (s === null ? '—' : formatDuration(s, locale));

  const columnIndex: Record<SortKey, number> = {
    name: 0,
    createdAt: 1,
    startupSeconds: 4,
    pullSeconds: 5,
    saved: 6,
  };
  const activeIndex = sortBy ? columnIndex[sortBy as SortKey] : undefined;
  const sortable = (key: SortKey): ThProps['sort'] => ({
    sortBy: { index: activeIndex, direction },
    onSort: (e, _index, dir) => onSort(e, key, dir),
    columnIndex: columnIndex[key],
  });
  const wrap = { modifier: 'wrap' } as const;
  const wide = { modifier: 'wrap', width: 15 } as const;
  // Sortable headers truncate in narrow columns: give the duration columns a share of the width.
  const fit = { modifier: 'wrap', width: 10 } as const;
  const columns = [
    { cell: t('Pod'), props: { ...wide, sort: sortable('name') } },
    { cell: t('Created'), props: { ...wide, sort: sortable('createdAt') } },
    { cell: t('Image'), props: wide },
    { cell: t('Pull'), props: { modifier: 'fitContent' as const } },
    { cell: t('Startup'), props: { ...fit, sort: sortable('startupSeconds') } },
    { cell: t('Image pull'), props: { ...fit, sort: sortable('pullSeconds') } },
    { cell: t('Saved'), props: { ...fit, sort: sortable('saved') } },
    { cell: t('How it was obtained'), props: wrap },
  ];
  const rows = page.map((p) => ({
    id: p.uid,
    row: [
      `${p.namespace}/${p.name}`,
      formatDateTime(p.createdAt, locale),
      p.containers.map((c) => c.image).join(', '),
      <Label key="mode" isCompact color={p.lazy ? 'blue' : 'grey'}>
        {p.lazy ? t('Lazy') : t('Normal')}
      </Label>,
      duration(p.startupSeconds),
      duration(p.pullSeconds),
      duration(p.savings.seconds),
      <SavingsBasis key="basis" basis={p.savings.basis} />,
    ],
  }));
  const paginationControl = (
    <Pagination
      itemCount={visible.length}
      perPage={pagination.perPage}
      page={pagination.page}
      onSetPage={pagination.onSetPage}
      onPerPageSelect={pagination.onPerPageSelect}
      isCompact
    />
  );
  return (
    <DataView
      activeState={visible.length === 0 ? 'empty' : undefined}
      data-test="pod-savings-table"
    >
      <DataViewToolbar
        clearAllFilters={clearAllFilters}
        filters={
          <DataViewFilters<PodFilters>
            onChange={(_key: string, values: Partial<PodFilters>) => onSetFilters(values)}
            values={filters}
          >
            <DataViewTextFilter filterId="name" title={t('Pod')} placeholder={t('Filter by pod')} />
            <DataViewTextFilter
              filterId="image"
              title={t('Image')}
              placeholder={t('Filter by image')}
            />
            <DataViewCheckboxFilter
              filterId="mode"
              title={t('Pull')}
              placeholder={t('Filter by pull')}
              options={[
                { label: t('Lazy'), value: 'lazy' },
                { label: t('Normal'), value: 'normal' },
              ]}
            />
          </DataViewFilters>
        }
        pagination={paginationControl}
      />
      <DataViewTable
        aria-label={t('Per-pod startup savings')}
        variant="compact"
        columns={columns}
        rows={rows}
        bodyStates={{
          empty: (
            <Tbody>
              <Tr key="empty">
                <Td colSpan={columns.length}>
                  <NoData title={t('No pods match')} />
                </Td>
              </Tr>
            </Tbody>
          ),
        }}
      />
      <DataViewToolbar pagination={paginationControl} />
    </DataView>
  );
};

export default PodSavingsTable;
