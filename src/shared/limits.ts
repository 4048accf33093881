/** Limits shared by the API contract and the UI (no imports, so the renderer bundle stays free of zod). */

/** The largest image file a search by image takes: 32 MB (base64 of it stays well inside the HTTP body limit). */
export const MAX_IMAGE_BYTES = 32 * 1024 * 1024;
/** That file as base64. */
export const MAX_IMAGE_BASE64 = Math.ceil(MAX_IMAGE_BYTES / 3) * 4;
