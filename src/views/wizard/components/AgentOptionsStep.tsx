import {
  Alert,
  Form,
  FormGroup,
  FormHelperText,
  HelperText,
  HelperTextItem,
  NumberInput,
  Switch,
  TextInput,
} from '@patternfly/react-core';

import type { AgentOptions, AgentOptionsError } from '../../../utils/agent-config/agentConfig';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';

/** Helper text with the id its input names in aria-describedby, so screen readers read it. */
const Help = ({ id, error, text }: { id: string; error: boolean; text: string }) => (
  <FormHelperText>
    <HelperText>
      <HelperTextItem id={id} variant={error ? 'error' : 'default'}>
        {text}
      </HelperTextItem>
    </HelperText>
  </FormHelperText>
);

const AgentOptionsStep = ({
  options,
  errors,
  writable,
  onChange,
}: {
  options: AgentOptions;
  errors: AgentOptionsError[];
  writable: boolean;
  onChange: (options: AgentOptions) => void;
}) => {
  const { t } = useSlipstreamTranslation();
  const set = (patch: Partial<AgentOptions>) => onChange({ ...options, ...patch });
  const quantityHelp = t('Bytes, or a number with Ki, Mi, Gi or Ti.');
  return (
    <Form onSubmit={(e) => e.preventDefault()}>
      {!writable && (
        <Alert isInline variant="info" title={t('Agent options are read-only')}>
          {t(
            'You may not change the agent ConfigMap, or it was not found. The agent keeps its current options.',
          )}
        </Alert>
      )}
      <FormGroup label={t('Prefetch')} fieldId="slipstream-prefetch">
        <Switch
          id="slipstream-prefetch"
          data-test="prefetch"
          isChecked={options.prefetchEnabled}
          isDisabled={!writable}
          label={t('Fetch the files an image needs at start before they are read')}
          onChange={(_e, checked) => set({ prefetchEnabled: checked })}
        />
      </FormGroup>
      <FormGroup label={t('Prefetch limit')} fieldId="slipstream-prefetch-max">
        <TextInput
          id="slipstream-prefetch-max"
          value={options.prefetchMaxBytes}
          isDisabled={!writable || !options.prefetchEnabled}
          validated={errors.includes('prefetch-max-bytes') ? 'error' : 'default'}
          aria-describedby="slipstream-prefetch-max-help"
          onChange={(_e, v) => set({ prefetchMaxBytes: v })}
        />
        <Help
          id="slipstream-prefetch-max-help"
          error={errors.includes('prefetch-max-bytes')}
          text={quantityHelp}
        />
      </FormGroup>
      <FormGroup label={t('Background fetch')} fieldId="slipstream-background">
        <Switch
          id="slipstream-background"
          data-test="background-fetch"
          isChecked={options.backgroundFetchEnabled}
          isDisabled={!writable}
          label={t('Fetch the rest of the image while the container runs')}
          onChange={(_e, checked) => set({ backgroundFetchEnabled: checked })}
        />
      </FormGroup>
      <FormGroup label={t('Background fetch concurrency')} fieldId="slipstream-concurrency">
        <NumberInput
          id="slipstream-concurrency"
          value={options.backgroundConcurrency}
          min={1}
          max={16}
          isDisabled={!writable || !options.backgroundFetchEnabled}
          inputAriaLabel={t('Background fetch concurrency')}
          minusBtnAriaLabel={t('Fewer')}
          plusBtnAriaLabel={t('More')}
          onMinus={() => set({ backgroundConcurrency: options.backgroundConcurrency - 1 })}
          onPlus={() => set({ backgroundConcurrency: options.backgroundConcurrency + 1 })}
          onChange={(e) =>
            set({ backgroundConcurrency: Number((e.target as HTMLInputElement).value) })
          }
        />
      </FormGroup>
      <FormGroup label={t('Cache size')} fieldId="slipstream-cache-size" isRequired>
        <TextInput
          id="slipstream-cache-size"
          data-test="cache-size"
          value={options.cacheSize}
          isDisabled={!writable}
          validated={errors.includes('cache-size') ? 'error' : 'default'}
          aria-describedby="slipstream-cache-size-help"
          onChange={(_e, v) => set({ cacheSize: v })}
        />
        <Help
          id="slipstream-cache-size-help"
          error={errors.includes('cache-size')}
          text={quantityHelp}
        />
      </FormGroup>
    </Form>
  );
};

export default AgentOptionsStep;
