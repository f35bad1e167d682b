// `npm run generate`: types and request functions from the committed spec,
// with Hey API's fetch client copied into the output folder (no runtime
// dependency). The output is committed; CI regenerates it and fails on a diff.
/** @type {import('@hey-api/openapi-ts').UserConfig} */
export default {
  input: '../../openapi/openapi.json',
  output: {
    path: 'src/generated',
    tsConfigPath: './tsconfig.json',
    // Browsers and Node's ESM loader need explicit file extensions.
    module: { extension: '.js' },
  },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
};
