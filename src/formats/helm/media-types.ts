/**
 * Media types of Helm charts stored as OCI artifacts (what `helm push` and Helm 3.6/3.7's
 * `helm chart push` send), and of the manifests Pallet writes for uploaded or cached charts.
 */
/** Helm charts as OCI artifacts: the config (Chart.yaml as JSON) and the layers. */
export const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
export const HELM_CHART_CONTENT = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
export const HELM_CHART_PROVENANCE = 'application/vnd.cncf.helm.chart.provenance.v1.prov';
/** The chart layer type of Helm 3.6/3.7's experimental `helm chart push`. */
export const HELM_LEGACY_CHART_CONTENT = 'application/tar+gzip';
