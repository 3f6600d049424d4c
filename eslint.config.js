// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const PROM_CLIENT = {
  name: "prom-client",
  message: "import from src/observe/prom.ts: prom-client's index loads TLS",
  allowTypeImports: true,
};

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      ".tools/",
      "test-results/",
      "coverage/",
      "dist/",
      "build/",
      "src/api/generated/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // TypeScript checks names itself (typescript-eslint's advice), also in the .js files it checks.
      "no-undef": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      eqeqeq: ["error", "always"],
    },
  },
  {
    // prom-client's index loads its Pushgateway, and with it TLS: the agent takes the parts it uses
    // from observe/prom.ts (types may come from the index: they are erased). typebox builds the
    // schemas (api/schema/) and the installer's; everything else checks objects with the code
    // generated from the schemas (api/structural.ts), so the agent never loads it for valid ones.
    files: ["src/**"],
    ignores: ["src/observe/prom.ts", "src/api/schema/**", "src/api/generated/**", "src/install/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [PROM_CLIENT],
          patterns: [
            {
              group: ["typebox", "typebox/*"],
              message: "typebox's values belong in src/api/schema/: check objects with src/api/structural.ts",
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    files: ["src/api/schema/**", "src/api/generated/**", "src/install/**"],
    rules: { "no-restricted-imports": ["error", { paths: [PROM_CLIENT] }] },
  },
  {
    // The test API server handles arbitrary JSON objects of every kind by nature.
    files: ["test/kubeapi/**"],
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
    },
  },
);
