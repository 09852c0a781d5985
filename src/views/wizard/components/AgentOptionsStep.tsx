import {
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
import { MAX_CONCURRENCY, MIN_CONCURRENCY } from '../../../utils/agent-config/agentConfig';
import Alert from '../../../utils/components/Alert';
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

/** The next whole value within the agent's bounds (from an empty or odd value too). */
const step = (value: number, by: 1 | -1): number => {
  const whole = Number.isFinite(value) ? Math.round(value) + by : MIN_CONCURRENCY;
  return Math.min(MAX_CONCURRENCY, Math.max(MIN_CONCURRENCY, whole));
};

const AgentOptionsStep = ({
  options,
  errors,
  writable,
  readError,
  onChange,
}: {
  options: AgentOptions;
  errors: AgentOptionsError[];
  writable: boolean;
  /** Why agent.yaml could not be read: the options stay read-only and the file untouched. */
  readError?: string;
  onChange: (options: AgentOptions) => void;
}) => {
  const { t } = useSlipstreamTranslation();
  const set = (patch: Partial<AgentOptions>) => onChange({ ...options, ...patch });
  const quantityHelp = t('Bytes, or a number with Ki, Mi, Gi or Ti.');
  const concurrencyHelp = t('A whole number from {{min}} to {{max}}.', {
    min: MIN_CONCURRENCY,
    max: MAX_CONCURRENCY,
  });
  return (
    <Form onSubmit={(e) => e.preventDefault()}>
      {readError !== undefined && (
        <Alert
          isInline
          variant="danger"
          title={t('The agent configuration cannot be read')}
          data-test="agent-config-error"
        >
          {t(
            'agent.yaml in the agent ConfigMap is not valid YAML ({{error}}). The options below are the defaults and cannot be changed here; the wizard leaves the ConfigMap as it is. Fix the file, for example with helm upgrade, to change them.',
            { error: readError },
          )}
        </Alert>
      )}
      {!writable && readError === undefined && (
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
          value={
            Number.isFinite(options.backgroundConcurrency) ? options.backgroundConcurrency : ''
          }
          min={MIN_CONCURRENCY}
          max={MAX_CONCURRENCY}
          validated={errors.includes('concurrency') ? 'error' : 'default'}
          inputProps={{ 'aria-describedby': 'slipstream-concurrency-help' }}
          isDisabled={!writable || !options.backgroundFetchEnabled}
          inputAriaLabel={t('Background fetch concurrency')}
          minusBtnAriaLabel={t('Fewer')}
          plusBtnAriaLabel={t('More')}
          onMinus={() => set({ backgroundConcurrency: step(options.backgroundConcurrency, -1) })}
          onPlus={() => set({ backgroundConcurrency: step(options.backgroundConcurrency, 1) })}
          onChange={(e) => {
            const text = (e.target as HTMLInputElement).value.trim();
            // An empty field is no number: NaN keeps it invalid instead of reading as 0.
            set({ backgroundConcurrency: text === '' ? Number.NaN : Number(text) });
          }}
        />
        <Help
          id="slipstream-concurrency-help"
          error={errors.includes('concurrency')}
          text={concurrencyHelp}
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
