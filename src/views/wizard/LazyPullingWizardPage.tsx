import { DocumentTitle } from '@openshift-console/dynamic-plugin-sdk';
import {
  Alert,
  PageSection,
  Title,
  Wizard,
  WizardHeader,
  WizardStep,
} from '@patternfly/react-core';
import { useRef } from 'react';
import { useNavigate, useSearchParams } from 'react-router';

import LoadError from '../../utils/components/LoadError';
import Loading from '../../utils/components/Loading';
import { ROUTES } from '../../utils/constants';
import { useCtrcfgAccess } from '../../utils/hooks/useCtrcfgAccess';
import { useSlipstreamTranslation } from '../../utils/hooks/useSlipstreamTranslation';
import AgentOptionsStep from './components/AgentOptionsStep';
import ApplyStep from './components/ApplyStep';
import PoolsStep from './components/PoolsStep';
import ReviewStep from './components/ReviewStep';
import StorePathStep from './components/StorePathStep';
import { useApplyChanges } from './hooks/useApplyChanges';
import { useWizardModel } from './hooks/useWizardModel';
import '../../utils/components/slipstream.css';

const LazyPullingWizardPage = () => {
  const { t } = useSlipstreamTranslation();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const action = params.get('action') === 'disable' ? 'disable' : 'enable';
  const model = useWizardModel(action, params.get('pool'));
  const access = useCtrcfgAccess(action);
  const { apply, results, running } = useApplyChanges();
  const started = useRef(false);
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
            ? t('You may not create or patch ContainerRuntimeConfigs.')
            : t('You may not patch or delete ContainerRuntimeConfigs.')}
        </Alert>
      </PageSection>
    );
  }

  return (
    <>
      <DocumentTitle>{title}</DocumentTitle>
      <PageSection isFilled>
        <Wizard
          header={<WizardHeader title={title} onClose={close} closeButtonAriaLabel={t('Close')} />}
          onClose={close}
          onSave={close}
          onStepChange={(_e, step) => {
            if (step.id === 'apply' && !started.current) {
              started.current = true;
              void apply(model.plans, model.agentConfigUpdate);
            }
          }}
          height="100%"
          navAriaLabel={t('Steps')}
        >
          <WizardStep
            name={t('Pools')}
            id="pools"
            footer={{ ...buttons, isNextDisabled: model.selected.length === 0 }}
          >
            <PoolsStep
              action={action}
              pools={model.choices}
              selected={model.selected}
              onToggle={model.toggle}
            />
          </WizardStep>
          <WizardStep
            name={t('Store path')}
            id="store-path"
            isHidden={action === 'disable'}
            footer={{ ...buttons, isNextDisabled: model.storePathError !== null }}
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
            footer={{
              ...buttons,
              isNextDisabled: model.agentConfigWritable && model.optionErrors.length > 0,
            }}
          >
            <AgentOptionsStep
              options={model.options}
              errors={model.optionErrors}
              writable={model.agentConfigWritable}
              onChange={model.setOptions}
            />
          </WizardStep>
          <WizardStep
            name={t('Review')}
            id="review"
            footer={{ ...buttons, nextButtonText: t('Apply'), isNextDisabled: !model.applicable }}
          >
            <ReviewStep
              action={action}
              plans={model.plans}
              gate={model.gate}
              agents={model.agents}
              agentConfigText={model.agentConfigUpdate?.text}
              agentConfigTarget={model.agentConfigTarget}
            />
          </WizardStep>
          <WizardStep
            name={t('Progress')}
            id="apply"
            footer={{
              ...buttons,
              nextButtonText: t('Close'),
              isBackHidden: true,
              isCancelHidden: true,
              isNextDisabled: running,
            }}
          >
            <ApplyStep results={results} running={running} pools={model.selectedPools} />
          </WizardStep>
        </Wizard>
      </PageSection>
    </>
  );
};

export default LazyPullingWizardPage;
