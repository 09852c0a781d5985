import { useWizardContext, WizardFooter } from '@patternfly/react-core';
import { useEffect, useRef } from 'react';

/**
 * The Review step's footer: its primary button applies the change, and only after that moves on to
 * the Progress step. Applying is this button's action, never a side effect of moving between steps.
 */
const ApplyFooter = ({
  applyText,
  backButtonText,
  cancelButtonText,
  isApplyDisabled,
  onApply,
}: {
  applyText: string;
  nextButtonText?: string;
  backButtonText: string;
  cancelButtonText: string;
  isApplyDisabled: boolean;
  /** Starts applying; false when nothing was sent. */
  onApply: () => boolean;
}) => {
  const { activeStep, goToNextStep, goToPrevStep, close } = useWizardContext();
  const advance = useRef(false);
  // The Progress step opens once Apply has started: move on in the render that enables it.
  useEffect(() => {
    if (!advance.current) return;
    advance.current = false;
    void goToNextStep();
  });
  return (
    <WizardFooter
      activeStep={activeStep}
      onNext={() => {
        if (onApply()) advance.current = true;
      }}
      onBack={goToPrevStep}
      onClose={close}
      nextButtonText={applyText}
      backButtonText={backButtonText}
      cancelButtonText={cancelButtonText}
      isNextDisabled={isApplyDisabled}
    />
  );
};

export default ApplyFooter;
