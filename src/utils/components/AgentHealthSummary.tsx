import { Content, Popover, Button } from '@patternfly/react-core';

import { formatNumber } from '../format/format';
import { useLocale } from '../hooks/useLocale';
import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';
import type { AgentHealth } from '../rollout/lazyState';

/** "2 of 3 healthy", with the nodes lacking a healthy agent in a popover. */
const AgentHealthSummary = ({ agents, hubUp }: { agents: AgentHealth; hubUp: boolean }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  if (!hubUp) return <Content component="small">{t('Unknown (hub unreachable)')}</Content>;
  const text = t('{{healthy}} of {{total}} healthy', {
    healthy: formatNumber(agents.healthy.length, locale),
    total: formatNumber(agents.nodes.length, locale),
  });
  if (agents.missing.length === 0) return <span data-test="agents">{text}</span>;
  return (
    <Popover
      headerContent={t('Nodes without a healthy agent')}
      bodyContent={
        <ul className="slipstream__node-list">
          {agents.missing.map((node) => (
            <li key={node}>{node}</li>
          ))}
        </ul>
      }
    >
      <Button variant="link" isInline data-test="agents">
        {text}
      </Button>
    </Popover>
  );
};

export default AgentHealthSummary;
