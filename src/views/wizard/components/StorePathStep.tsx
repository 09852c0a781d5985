import {
  Form,
  FormGroup,
  FormHelperText,
  HelperText,
  HelperTextItem,
  TextInput,
} from '@patternfly/react-core';

import Alert from '../../../utils/components/Alert';
import type { StorePathError } from '../../../utils/ctrcfg/storePath';
import {
  MAX_LAYER_STORES,
  MAX_STORE_PATH_LENGTH,
  sameStorePath,
} from '../../../utils/ctrcfg/storePath';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';

const StorePathStep = ({
  value,
  error,
  agentMountpoint,
  onChange,
}: {
  value: string;
  error: StorePathError | null;
  agentMountpoint: string;
  onChange: (value: string) => void;
}) => {
  const { t } = useSlipstreamTranslation();
  const messages: Record<StorePathError, string> = {
    empty: t('Enter a path.'),
    'not-absolute': t('The path must be absolute (start with /).'),
    'too-long': t('The path must be at most {{max}} characters.', { max: MAX_STORE_PATH_LENGTH }),
    'invalid-characters': t('Use only letters, digits, /, ., _ and -.'),
    'double-slash': t('The path must not contain //.'),
    duplicate: t('Every selected pool already lists this store: there is nothing to change.'),
    'too-many-stores': t('A pool can list at most {{max}} layer stores.', {
      max: MAX_LAYER_STORES,
    }),
  };
  return (
    <Form onSubmit={(e) => e.preventDefault()}>
      <FormGroup
        label={t('Additional layer store path')}
        isRequired
        fieldId="slipstream-store-path"
      >
        <TextInput
          id="slipstream-store-path"
          data-test="store-path"
          value={value}
          isRequired
          validated={error ? 'error' : 'default'}
          aria-describedby="slipstream-store-path-help"
          onChange={(_e, v) => onChange(v)}
        />
        <FormHelperText>
          <HelperText>
            <HelperTextItem
              id="slipstream-store-path-help"
              variant={error ? 'error' : 'default'}
              data-test="store-path-help"
            >
              {error
                ? messages[error]
                : t(
                    'CRI-O looks up layers here first. The path must exist on the node before the change is applied.',
                  )}
            </HelperTextItem>
          </HelperText>
        </FormHelperText>
      </FormGroup>
      {!error && !sameStorePath(value, agentMountpoint) && (
        <Alert isInline variant="warning" title={t('The agent mounts another path')}>
          {t(
            'The agent serves layers at {{path}}. CRI-O would find nothing at the path you entered.',
            {
              path: agentMountpoint,
            },
          )}
        </Alert>
      )}
    </Form>
  );
};

export default StorePathStep;
