import { Button, Label, Pagination, ToolbarItem } from '@patternfly/react-core';
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
import { InnerScrollContainer, Tbody, Td, Tr } from '@patternfly/react-table';
import type { ReactNode } from 'react';
import { useMemo } from 'react';

import NoData from '../../../utils/components/NoData';
import PathText from '../../../utils/components/PathText';
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
  // DataViewTable truncates every header cell whatever the column asks for (DataViewTh sets
  // modifier="truncate" last, @patternfly/react-data-view 6.4), so the headers' wrapping comes
  // from the slipstream__wrap-headers class on the table instead. The widths only share out the
  // room; a column never gets narrower than its header's longest word and sort indicator.
  const columns: { cell: string; props?: ThProps }[] = [
    { cell: t('Pod'), props: { width: 20, sort: sortable('name') } },
    { cell: t('Created'), props: { width: 10, sort: sortable('createdAt') } },
    { cell: t('Image'), props: { width: 20 } },
    { cell: t('Pull') },
    { cell: t('Startup'), props: { sort: sortable('startupSeconds') } },
    { cell: t('Image pull'), props: { sort: sortable('pullSeconds') } },
    { cell: t('Saved'), props: { sort: sortable('saved') } },
    { cell: t('How it was obtained'), props: { width: 15 } },
  ];
  // The header's text labels each cell when the table stacks its rows on narrow screens.
  const cells = (values: ReactNode[]) =>
    values.map((cell, i) => ({ cell, props: { dataLabel: columns[i].cell } }));
  const rows = page.map((p) => ({
    id: p.uid,
    row: cells([
      <PathText key="pod" text={`${p.namespace}/${p.name}`} />,
      formatDateTime(p.createdAt, locale),
      <PathText key="image" text={p.containers.map((c) => c.image).join(', ')} />,
      <Label key="mode" isCompact color={p.lazy ? 'blue' : 'grey'}>
        {p.lazy ? t('Lazy') : t('Normal')}
      </Label>,
      duration(p.startupSeconds),
      duration(p.pullSeconds),
      duration(p.savings.seconds),
      <SavingsBasis key="basis" basis={p.savings.basis} asText />,
    ]),
  }));
  const paginationControl = (
    <Pagination
      itemCount={visible.length}
      perPage={pagination.perPage}
      page={pagination.page}
      onSetPage={pagination.onSetPage}
      onPerPageSelect={pagination.onPerPageSelect}
      isCompact
      titles={{
        ofWord: t('of'),
        perPageSuffix: t('per page'),
        toFirstPageAriaLabel: t('Go to first page'),
        toPreviousPageAriaLabel: t('Go to previous page'),
        toNextPageAriaLabel: t('Go to next page'),
        toLastPageAriaLabel: t('Go to last page'),
        currPageAriaLabel: t('Current page'),
        paginationAriaLabel: t('Pagination of the pods'),
        optionsToggleAriaLabel: t('Pods per page'),
      }}
    />
  );
  return (
    <DataView
      activeState={visible.length === 0 ? 'empty' : undefined}
      data-test="pod-savings-table"
    >
      <DataViewToolbar
        clearAllFilters={clearAllFilters}
        customLabelGroupContent={
          <ToolbarItem>
            <Button variant="link" isInline onClick={clearAllFilters}>
              {t('Clear filters')}
            </Button>
          </ToolbarItem>
        }
        filters={
          <DataViewFilters<PodFilters>
            onChange={(_key: string, values: Partial<PodFilters>) => onSetFilters(values)}
            values={filters}
          >
            <DataViewTextFilter
              filterId="name"
              title={t('Pod')}
              placeholder={t('Filter by pod')}
              aria-label={t('Filter by pod')}
            />
            <DataViewTextFilter
              filterId="image"
              title={t('Image')}
              placeholder={t('Filter by image')}
              aria-label={t('Filter by image')}
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
      {/* Where the columns need more room than there is, the table scrolls, not the page. */}
      <InnerScrollContainer>
        <DataViewTable
          aria-label={t('Per-pod startup savings')}
          className="slipstream__wrap-headers"
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
      </InnerScrollContainer>
      <DataViewToolbar pagination={paginationControl} />
    </DataView>
  );
};

export default PodSavingsTable;
