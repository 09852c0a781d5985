import '@testing-library/jest-dom';
import { TextDecoder, TextEncoder } from 'node:util';

import { configure } from '@testing-library/react';

// react-router 7 needs TextEncoder, which jsdom does not provide.
Object.assign(globalThis, { TextEncoder, TextDecoder });

configure({ testIdAttribute: 'data-test' });
