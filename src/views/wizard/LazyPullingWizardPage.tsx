import { DocumentTitle } from '@openshift-console/dynamic-plugin-sdk';
import { PageSection, Title, Wizard, WizardHeader, WizardStep } from '@patternfly/react-core';
import { useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router';

import Alert from '../../utils/components/Alert';
import LoadError from '../../utils/components/LoadError';
import Loading from '../../utils/components/Loading';
import { ROUTES } from '../../utils/constants';
import { useCtrcfgAccess } from '../../utils/hooks/useCtrcfgAccess';
import { useSlipstreamTranslation } from '../../utils/hooks/useSlipstreamTranslation';
import AgentOptionsStep from './components/AgentOptionsStep';
import ApplyFooter from './components/ApplyFooter';
import ApplyStep from './components/ApplyStep';
import PoolsStep from './components/PoolsStep';
import ReviewStep from './components/ReviewStep';
import StorePathStep from './components/StorePathStep';
import { useApplyChanges } from './hooks/useApplyChanges';
import { useWizardModel } from './hooks/useWizardModel';
import type { AppliedPool } from './utils/planChanges';
import { appliedPools } from './utils/planChanges';
import '../../utils/components/slipstream.css';

const LazyPullingWizardPage = () => {
  const { t } = useSlipstreamTranslation();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const action = params.get('action') === 'disable' ? 'disable' : 'enable';
  const model = useWizardModel(action, params.get('pool'));
  const access = useCtrcfgAccess(action);
  const { apply, results, running } = useApplyChanges();
  // What Apply sent, per pool; set once, by the Apply button only.
  const [applied, setApplied] = useState<Record<string, AppliedPool> | null>(null);
  const started = applied !== null;
  const title =
    action === 'enable' ? t('Enable lazy image pulling') : t('Disable lazy image pulling');
  const close = () => {
    void navigate(ROUTES.overview);
  };
  // A step's footer replaces the wizard's, so every step names its buttons in the user's language.
  const buttons = {
    nextButtonText: t('Next'),
    backButtonText: t('Back'),
    cancelButtonText: t('Cancel'),
  };

  if (model.error) return <LoadError error={model.error} />;
  if (!model.loaded || access.loading) return <Loading />;
  if (!access.allowed) {
    return (
      <PageSection>
        <Title headingLevel="h1">{title}</Title>
        <Alert isInline variant="danger" title={t('Not allowed')}>
          {action === 'enable'
            ? t('You may not create or patch ContainerRuntimeConfigs and MachineConfigs.')
            : t('You may not patch or delete ContainerRuntimeConfigs, or delete MachineConfigs.')}
        </Alert>
      </PageSection>
    );
  }

  /** Sends the plan once; false (and nothing sent) unless every step is valid. */
  const onApply = (): boolean => {
    if (started || !model.applicable) return false;
    setApplied(appliedPools(model.plans));
    void apply(action, model.plans, model.agentConfigUpdate);
    return true;
  };

  // Steps are reached in order: each needs the ones before it to be valid, the Progress step is
  // reached through Apply only, and after Apply the steps before it are closed.
  const poolsInvalid = model.selected.length === 0;
  const storePathInvalid = action === 'enable' && model.storePathError !== null;
  const optionsInvalid = action === 'enable' && model.optionErrors.length > 0;

  return (
    <>
      <DocumentTitle>{title}</DocumentTitle>
      <PageSection isFilled>
        <Wizard
          header={<WizardHeader title={title} onClose={close} closeButtonAriaLabel={t('Close')} />}
          onClose={close}
          onSave={close}
          isVisitRequired
          height="100%"
          navAriaLabel={t('Steps')}
        >
          <WizardStep
            name={t('Pools')}
            id="pools"
            isDisabled={started}
            footer={{ ...buttons, isNextDisabled: poolsInvalid }}
          >
            <PoolsStep
              action={action}
              pools={model.choices}
              selected={model.selected}
              unknownPool={model.unknownPool}
              onToggle={model.toggle}
            />
          </WizardStep>
          <WizardStep
            name={t('Store path')}
            id="store-path"
            isHidden={action === 'disable'}
            isDisabled={started || poolsInvalid}
            footer={{ ...buttons, isNextDisabled: storePathInvalid }}
          >
            <StorePathStep
              value={model.storePath}
              error={model.storePathError}
              agentMountpoint={model.agentMountpoint}
              onChange={model.setStorePath}
            />
          </WizardStep>
          <WizardStep
            name={t('Agent options')}
            id="agent-options"
            isHidden={action === 'disable'}
            isDisabled={started || poolsInvalid || storePathInvalid}
            footer={{ ...buttons, isNextDisabled: optionsInvalid }}
          >
            <AgentOptionsStep
              options={model.options}
              errors={model.optionErrors}
              writable={model.agentConfigWritable}
              readError={model.agentConfigError}
              onChange={model.setOptions}
            />
          </WizardStep>
          <WizardStep
            name={t('Review')}
            id="review"
            isDisabled={started || poolsInvalid || storePathInvalid || optionsInvalid}
            footer={
              <ApplyFooter
                {...buttons}
                applyText={t('Apply')}
                isApplyDisabled={started || !model.applicable}
                onApply={onApply}
              />
            }
          >
            <ReviewStep
              action={action}
              plans={model.plans}
              gate={model.gate}
              agents={model.agents}
              blockers={model.blockers}
              agentConfigText={model.agentConfigUpdate?.text}
              agentConfigTarget={model.agentConfigTarget}
            />
          </WizardStep>
          <WizardStep
            name={t('Progress')}
            id="apply"
            isDisabled={!started}
            footer={{
              ...buttons,
              nextButtonText: t('Close'),
              isBackHidden: true,
              isCancelHidden: true,
              isNextDisabled: running,
            }}
          >
            <ApplyStep
              results={results}
              running={running}
              pools={model.selectedPools}
              applied={applied ?? {}}
            />
          </WizardStep>
        </Wizard>
      </PageSection>
    </>
  );
};

export default LazyPullingWizardPage;
