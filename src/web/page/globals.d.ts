/** @file Globals of the page bundle. The package version is defined by the bundler (src/web/bundle.ts). */
declare const SNELL_VERSION: string;
