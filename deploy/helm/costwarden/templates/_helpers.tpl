{{/*
Names and labels.
*/}}
{{- define "costwarden.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "costwarden.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "costwarden.selectorLabels" -}}
app.kubernetes.io/name: {{ include "costwarden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ .Values.mode }}
{{- end -}}

{{- define "costwarden.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "costwarden.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: costwarden
{{- end -}}

{{- define "costwarden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "costwarden.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "costwarden.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The TLS Secret the pod mounts: cert-manager's or the user's; empty for selfSigned. */}}
{{- define "costwarden.tlsSecret" -}}
{{- if eq .Values.tls.mode "certManager" -}}
{{- printf "%s-tls" (include "costwarden.fullname" .) -}}
{{- else if eq .Values.tls.mode "existingSecret" -}}
{{- .Values.tls.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "costwarden.isServer" -}}
{{- if eq .Values.mode "server" -}}true{{- end -}}
{{- end -}}

{{/*
costwarden.mounts: every Secret and ConfigMap the configuration references, as
{mounts: [{volume, secret|configMap, items: [{key, path}], dir}]}. The pod template
mounts exactly these, and the configuration points at exactly these paths, so the
two cannot drift apart. Secrets are mounted read-only with mode 0400 (0440 with
fsGroup): their values never pass through the chart.
*/}}
{{- define "costwarden.mounts" -}}
{{- $v := .Values -}}
{{- $server := eq $v.mode "server" -}}
mounts:
{{- if and $server (ne $v.tls.mode "selfSigned") }}
  - {volume: tls, from: tls.existingSecret, secret: {{ include "costwarden.tlsSecret" . | quote }}, dir: /etc/costwarden/tls, items: [{key: tls.crt, path: tls.crt}, {key: tls.key, path: tls.key}]}
{{- end }}
{{- if eq $v.keys.provider "secret" }}
  - {volume: kek, from: keys.secret.name, secret: {{ $v.keys.secret.name | quote }}, dir: /etc/costwarden/kek, items: [{key: {{ $v.keys.secret.key | quote }}, path: kek}]}
{{- end }}
{{- if eq $v.keys.provider "awskms" }}
{{- if $v.keys.awskms.credentialsSecret.name }}
  - {volume: aws-credentials, from: keys.awskms.credentialsSecret.name, secret: {{ $v.keys.awskms.credentialsSecret.name | quote }}, dir: /etc/costwarden/aws, items: [{key: {{ $v.keys.awskms.credentialsSecret.key | quote }}, path: credentials}]}
{{- end }}
{{- include "costwarden.caMount" (dict "name" "kms-ca" "ca" $v.keys.awskms.ca "from" "keys.awskms.ca") }}
{{- end }}
{{- if eq $v.storage.driver "postgres" }}
{{- if $v.storage.postgres.passwordSecret.name }}
  - {volume: postgres-password, from: storage.postgres.passwordSecret.name, secret: {{ $v.storage.postgres.passwordSecret.name | quote }}, dir: /etc/costwarden/postgres, items: [{key: {{ $v.storage.postgres.passwordSecret.key | quote }}, path: password}]}
{{- end }}
{{- include "costwarden.caMount" (dict "name" "postgres-ca" "ca" $v.storage.postgres.ca "from" "storage.postgres.ca") }}
{{- if $v.storage.postgres.clientCertSecret }}
  - {volume: postgres-client, from: storage.postgres.clientCertSecret, secret: {{ $v.storage.postgres.clientCertSecret | quote }}, dir: /etc/costwarden/postgres-client, items: [{key: tls.crt, path: tls.crt}, {key: tls.key, path: tls.key}]}
{{- end }}
{{- end }}
{{- if and $server $v.auth.oidc.issuer $v.auth.oidc.clientSecret.name }}
  - {volume: oidc-client-secret, from: auth.oidc.clientSecret.name, secret: {{ $v.auth.oidc.clientSecret.name | quote }}, dir: /etc/costwarden/oidc, items: [{key: {{ $v.auth.oidc.clientSecret.key | quote }}, path: client-secret}]}
{{- end }}
{{- if $v.collect.prometheus.url }}
{{- include "costwarden.caMount" (dict "name" "prometheus-ca" "ca" $v.collect.prometheus.ca "from" "collect.prometheus.ca") }}
{{- if $v.collect.prometheus.bearerTokenSecret.name }}
  - {volume: prometheus-token, from: collect.prometheus.bearerTokenSecret.name, secret: {{ $v.collect.prometheus.bearerTokenSecret.name | quote }}, dir: /etc/costwarden/prometheus-token, items: [{key: {{ $v.collect.prometheus.bearerTokenSecret.key | quote }}, path: token}]}
{{- end }}
{{- if $v.collect.prometheus.basicAuth.passwordSecret.name }}
  - {volume: prometheus-password, from: collect.prometheus.basicAuth.passwordSecret.name, secret: {{ $v.collect.prometheus.basicAuth.passwordSecret.name | quote }}, dir: /etc/costwarden/prometheus-password, items: [{key: {{ $v.collect.prometheus.basicAuth.passwordSecret.key | quote }}, path: password}]}
{{- end }}
{{- end }}
{{- if and $v.metrics.enabled $v.metrics.tokenSecret.name }}
  - {volume: metrics-token, from: metrics.tokenSecret.name, secret: {{ $v.metrics.tokenSecret.name | quote }}, dir: /etc/costwarden/metrics, items: [{key: {{ $v.metrics.tokenSecret.key | quote }}, path: token}]}
{{- end }}
{{- if and $server $v.audit.syslog.address }}
{{- include "costwarden.caMount" (dict "name" "syslog-ca" "ca" $v.audit.syslog.ca "from" "audit.syslog.ca") }}
{{- end }}
{{- if and (not $server) $v.agent.joinTokenSecret.name }}
  - {volume: join-token, from: agent.joinTokenSecret.name, secret: {{ $v.agent.joinTokenSecret.name | quote }}, dir: /etc/costwarden/join-token, items: [{key: {{ $v.agent.joinTokenSecret.key | quote }}, path: token}]}
{{- end }}
{{- end -}}

{{- define "costwarden.caMount" -}}
{{- if .ca.secret }}
  - {volume: {{ .name }}, from: {{ .from }}.secret, secret: {{ .ca.secret | quote }}, dir: /etc/costwarden/{{ .name }}, items: [{key: {{ .ca.key | quote }}, path: ca.crt}]}
{{- else if .ca.configMap }}
  - {volume: {{ .name }}, from: {{ .from }}.configMap, configMap: {{ .ca.configMap | quote }}, dir: /etc/costwarden/{{ .name }}, items: [{key: {{ .ca.key | quote }}, path: ca.crt}]}
{{- end }}
{{- end -}}

{{/*
costwarden.config: the configuration file (docs/configuration.md). Only keys that
exist in costwarden's configuration are written; a test loads every rendered file
with costwarden's own strict loader. Chart-managed keys (addresses, files, drivers)
win over .Values.config, whose schema admits only plain settings.
*/}}
{{- define "costwarden.config" -}}
{{- $v := .Values -}}
{{- $server := eq $v.mode "server" -}}
{{- $c := dict "dataDir" "/var/lib/costwarden" -}}
{{- if $server -}}
{{- $srv := dict "listen" ":8443" "internalListen" "127.0.0.1:9003" -}}
{{- if $v.metrics.enabled -}}
{{- /* The address is the pod's own, which only the kubelet knows: the
deployment sets COSTWARDEN_SERVER_INTERNAL_LISTEN from the downward API. */ -}}
{{- $_ := unset $srv "internalListen" -}}
{{- $_ := set $srv "internalTLS" true -}}
{{- if $v.metrics.requirePrivateAddress -}}{{- $_ := set $srv "internalPrivateOnly" true -}}{{- end -}}
{{- if $v.metrics.tokenSecret.name -}}
{{- $_ := set $srv "metricsTokenFile" "/etc/costwarden/metrics/token" -}}
{{- end -}}
{{- end -}}
{{- if ne $v.tls.mode "selfSigned" -}}
{{- $_ := set $srv "tls" (dict "certFile" "/etc/costwarden/tls/tls.crt" "keyFile" "/etc/costwarden/tls/tls.key") -}}
{{- end -}}
{{- range $key, $list := dict "allowCIDRs" $v.server.allowCIDRs "trustedProxies" $v.server.trustedProxies "internalAllowCIDRs" $v.metrics.allowCIDRs -}}
{{- if $list -}}{{- $_ := set $srv $key $list -}}{{- end -}}
{{- end -}}
{{- if $v.agents.enabled -}}
{{- $_ := set $srv "agentListen" (printf ":%d" (int $v.agents.port)) -}}
{{- if $v.agents.allowCIDRs -}}{{- $_ := set $srv "agentAllowCIDRs" $v.agents.allowCIDRs -}}{{- end -}}
{{- if $v.agents.serverNames -}}{{- $_ := set $c "agents" (dict "serverNames" $v.agents.serverNames) -}}{{- end -}}
{{- end -}}
{{- $_ := set $c "server" $srv -}}
{{- $s := $v.audit.syslog -}}
{{- $audit := dict "stdout" $v.audit.stdout -}}
{{- if $s.address -}}
{{- $sl := dict "address" $s.address "tls" $s.tls "facility" $s.facility "required" $s.required "timeout" $s.timeout -}}
{{- if or $s.ca.secret $s.ca.configMap -}}{{- $_ := set $sl "caFile" "/etc/costwarden/syslog-ca/ca.crt" -}}{{- end -}}
{{- $_ := set $audit "syslog" $sl -}}
{{- end -}}
{{- $_ := set $c "audit" $audit -}}
{{- else -}}
{{- $ag := dict "servers" $v.agent.servers -}}
{{- if $v.agent.joinTokenSecret.name -}}{{- $_ := set $ag "joinTokenFile" "/etc/costwarden/join-token/token" -}}{{- end -}}
{{- $_ := set $c "agent" $ag -}}
{{- end -}}
{{- $eg := dict -}}
{{- if $v.egress.airGapped -}}{{- $_ := set $eg "airGapped" true -}}{{- end -}}
{{- if $v.egress.allow -}}{{- $_ := set $eg "allow" $v.egress.allow -}}{{- end -}}
{{- if $eg -}}{{- $_ := set $c "egress" $eg -}}{{- end -}}
{{- $st := dict "driver" $v.storage.driver -}}
{{- if eq $v.storage.driver "postgres" -}}
{{- $p := $v.storage.postgres -}}
{{- $pg := dict "host" $p.host "port" (int $p.port) "database" $p.database "user" $p.user "sslMode" $p.sslMode "maxConns" (int $p.maxConns) "connectTimeout" $p.connectTimeout -}}
{{- if $p.passwordSecret.name -}}{{- $_ := set $pg "passwordFile" "/etc/costwarden/postgres/password" -}}{{- end -}}
{{- if or $p.ca.secret $p.ca.configMap -}}{{- $_ := set $pg "caFile" "/etc/costwarden/postgres-ca/ca.crt" -}}{{- end -}}
{{- if $p.clientCertSecret -}}
{{- $_ := set $pg "certFile" "/etc/costwarden/postgres-client/tls.crt" -}}
{{- $_ := set $pg "keyFile" "/etc/costwarden/postgres-client/tls.key" -}}
{{- end -}}
{{- $_ := set $st "postgres" $pg -}}
{{- end -}}
{{- $_ := set $c "storage" $st -}}
{{- $k := dict "provider" $v.keys.provider -}}
{{- if eq $v.keys.provider "secret" -}}
{{- $_ := set $k "secret" (dict "file" "/etc/costwarden/kek/kek") -}}
{{- else if eq $v.keys.provider "awskms" -}}
{{- $a := $v.keys.awskms -}}
{{- $kms := dict "keyID" $a.keyID "useInstanceMetadata" $a.useInstanceMetadata -}}
{{- range $key := list "region" "endpoint" "profile" -}}
{{- if index $a $key -}}{{- $_ := set $kms $key (index $a $key) -}}{{- end -}}
{{- end -}}
{{- if $a.credentialsSecret.name -}}{{- $_ := set $kms "credentialsFile" "/etc/costwarden/aws/credentials" -}}{{- end -}}
{{- if or $a.ca.secret $a.ca.configMap -}}{{- $_ := set $kms "caFile" "/etc/costwarden/kms-ca/ca.crt" -}}{{- end -}}
{{- $_ := set $k "awskms" $kms -}}
{{- end -}}
{{- $_ := set $c "keys" $k -}}
{{- if $server -}}
{{- $o := $v.auth.oidc -}}
{{- $auth := dict "passwordLogin" $v.auth.passwordLogin -}}
{{- if $o.issuer -}}
{{- $oidc := dict "issuer" $o.issuer "clientID" $o.clientID "redirectURL" $o.redirectURL "scopes" $o.scopes "usernameClaim" $o.usernameClaim "groupsClaim" $o.groupsClaim "algorithms" $o.algorithms "displayName" $o.displayName -}}
{{- range $key := list "groupRoles" "requireAMR" "requireACR" -}}
{{- if index $o $key -}}{{- $_ := set $oidc $key (index $o $key) -}}{{- end -}}
{{- end -}}
{{- if $o.clientSecret.name -}}{{- $_ := set $oidc "clientSecretFile" "/etc/costwarden/oidc/client-secret" -}}{{- end -}}
{{- $_ := set $auth "oidc" $oidc -}}
{{- end -}}
{{- $_ := set $c "auth" $auth -}}
{{- end -}}
{{- $col := dict -}}
{{- $pr := $v.collect.prometheus -}}
{{- if $pr.url -}}
{{- $prom := dict "url" $pr.url "clusterName" $pr.clusterName "backfill" $pr.backfill -}}
{{- range $key := list "clusterLabel" "clusterLabelValue" "matchers" "replicaLabel" -}}
{{- if index $pr $key -}}{{- $_ := set $prom $key (index $pr $key) -}}{{- end -}}
{{- end -}}
{{- if or $pr.ca.secret $pr.ca.configMap -}}{{- $_ := set $prom "caFile" "/etc/costwarden/prometheus-ca/ca.crt" -}}{{- end -}}
{{- if $pr.bearerTokenSecret.name -}}{{- $_ := set $prom "bearerTokenFile" "/etc/costwarden/prometheus-token/token" -}}{{- end -}}
{{- if $pr.basicAuth.username -}}{{- $_ := set $prom "basicAuthUsername" $pr.basicAuth.username -}}{{- end -}}
{{- if $pr.basicAuth.passwordSecret.name -}}{{- $_ := set $prom "basicAuthPasswordFile" "/etc/costwarden/prometheus-password/password" -}}{{- end -}}
{{- $_ := set $col "prometheus" $prom -}}
{{- end -}}
{{- if $v.collect.kubernetes.enabled -}}
{{- $_ := set $col "kubernetes" (dict "enabled" true) -}}
{{- end -}}
{{- if $col -}}{{- $_ := set $c "collect" $col -}}{{- end -}}
{{- $merged := mustMergeOverwrite (deepCopy (default dict $v.config)) $c -}}
{{- toYaml $merged -}}
{{- end -}}

{{/*
costwarden.checks: cross-value rules the schema cannot state clearly. Each failure
names the values to change.
*/}}
{{- define "costwarden.checks" -}}
{{- $v := .Values -}}
{{- if and (eq $v.storage.driver "sqlite") (gt (int $v.replicas) 1) -}}
{{- fail "replicas > 1 needs storage.driver: postgres (the embedded store lives on one volume)" -}}
{{- end -}}
{{- if and (eq $v.mode "agent") (gt (int $v.replicas) 1) -}}
{{- fail "mode agent runs one replica per cluster: set replicas: 1" -}}
{{- end -}}
{{- if and (eq $v.mode "agent") (eq $v.storage.driver "postgres") -}}
{{- fail "mode agent keeps its outbox on the embedded store: set storage.driver: sqlite" -}}
{{- end -}}
{{- if and (eq $v.keys.provider "secret") (not $v.keys.secret.name) -}}
{{- fail "keys.secret.name is required with keys.provider: secret (create the key Secret first: docs/install.md)" -}}
{{- end -}}
{{- if and (eq $v.keys.provider "awskms") (not $v.keys.awskms.keyID) -}}
{{- fail "keys.awskms.keyID is required with keys.provider: awskms" -}}
{{- end -}}
{{- if and (eq $v.mode "server") (eq $v.tls.mode "existingSecret") (not $v.tls.existingSecret) -}}
{{- fail "tls.existingSecret is required with tls.mode: existingSecret" -}}
{{- end -}}
{{- if and (eq $v.mode "server") (eq $v.tls.mode "certManager") (not $v.tls.certManager.issuerRef.name) -}}
{{- fail "tls.certManager.issuerRef.name is required with tls.mode: certManager" -}}
{{- end -}}
{{- if and (eq $v.storage.driver "postgres") (not $v.storage.postgres.host) -}}
{{- fail "storage.postgres.host is required with storage.driver: postgres" -}}
{{- end -}}
{{- if and $v.collect.prometheus.url (not $v.collect.prometheus.clusterName) -}}
{{- fail "collect.prometheus.clusterName is required with collect.prometheus.url" -}}
{{- end -}}
{{- if and (eq $v.mode "server") (not $v.auth.passwordLogin) (not $v.auth.oidc.issuer) -}}
{{- fail "auth.passwordLogin: false needs auth.oidc.issuer (otherwise nobody can log in)" -}}
{{- end -}}
{{- if and $v.auth.oidc.issuer (or (not $v.auth.oidc.clientID) (not $v.auth.oidc.redirectURL)) -}}
{{- fail "auth.oidc.issuer needs auth.oidc.clientID and auth.oidc.redirectURL" -}}
{{- end -}}
{{- if and $v.metrics.enabled (not $v.metrics.from) $v.networkPolicy.enabled -}}
{{- fail "metrics.enabled needs metrics.from: the NetworkPolicy peers allowed to scrape (for example Prometheus's namespace)" -}}
{{- end -}}
{{- if eq $v.mode "agent" -}}
{{- if not $v.agent.servers -}}
{{- fail "mode agent needs agent.servers: the central server's agents listener, https://HOST:PORT (docs/install.md, \"Agents in other clusters\")" -}}
{{- end -}}
{{- if not $v.agent.joinTokenSecret.name -}}
{{- fail "mode agent needs agent.joinTokenSecret.name: the Secret holding the join token that costwarden cluster add NAME printed on the central server" -}}
{{- end -}}
{{- if not $v.collect.prometheus.url -}}
{{- fail "mode agent needs collect.prometheus.url and collect.prometheus.clusterName (the NAME given to costwarden cluster add): the agent collects this cluster from Prometheus" -}}
{{- end -}}
{{- if $v.metrics.enabled -}}
{{- fail "metrics.enabled is for mode server: the agent serves no /metrics (its deliveries show on the central server: costwarden cluster list)" -}}
{{- end -}}
{{- if $v.agents.enabled -}}
{{- fail "agents.enabled is for mode server (the central server's agents listener); an agent reports to agent.servers" -}}
{{- end -}}
{{- if $v.audit.syslog.address -}}
{{- fail "audit.syslog.address is for mode server: the agent keeps no audit trail (the central server records its enrolments and refusals)" -}}
{{- end -}}
{{- end -}}
{{- if and $v.agents.enabled $v.networkPolicy.enabled (not $v.agents.from) -}}
{{- fail "agents.enabled needs agents.from: the NetworkPolicy peers of the agents (their clusters' egress addresses as ipBlock CIDRs)" -}}
{{- end -}}
{{- $internalPort := ternary (int $v.metrics.port) 9003 (and $v.metrics.enabled true) -}}
{{- if and $v.agents.enabled (or (eq (int $v.agents.port) 8443) (eq (int $v.agents.port) $internalPort)) -}}
{{- fail (printf "agents.port %d is taken by another listener (8443 is HTTPS, %d the internal metrics listener)" (int $v.agents.port) $internalPort) -}}
{{- end -}}
{{- if and (eq $v.mode "server") $v.audit.syslog.address -}}
{{- if not $v.audit.syslog.tls -}}
{{- fail "audit.syslog.tls: false would send the audit trail across the network in clear text; the chart speaks RFC 5425 (syslog over TLS) only" -}}
{{- end -}}
{{- if $v.egress.airGapped -}}
{{- fail "audit.syslog.address is not reachable with egress.airGapped: true; keep audit.stdout and ship the pod's log instead" -}}
{{- end -}}
{{- end -}}
{{- $hosted := dig "hosted" "enabled" false (default dict $v.config) -}}
{{- if $hosted -}}
{{- if ne $v.mode "server" -}}
{{- fail "config.hosted.enabled is for mode server" -}}
{{- end -}}
{{- if not $v.agents.enabled -}}
{{- fail "config.hosted.enabled needs agents.enabled: hosted tenants' clusters report through agents only" -}}
{{- end -}}
{{- if $v.collect.prometheus.url -}}
{{- fail "config.hosted.enabled refuses collect.prometheus.url: hosted tenants' clusters report through agents only" -}}
{{- end -}}
{{- if $v.auth.oidc.issuer -}}
{{- fail "config.hosted.enabled refuses auth.oidc.issuer: single sign-on is one provider for the installation and is not available in hosted mode" -}}
{{- end -}}
{{- if and $v.metrics.enabled $v.metrics.tokenSecret.name -}}
{{- fail "config.hosted.enabled refuses metrics.tokenSecret: the cost metrics would mix tenants" -}}
{{- end -}}
{{- end -}}
{{- range $m := (include "costwarden.mounts" . | fromYaml).mounts -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" (default $m.configMap $m.secret)) -}}
{{- fail (printf "%s is not the name of a Secret or ConfigMap (lower-case letters, digits, '-' and '.'); the value is not repeated here in case it is a secret" $m.from) -}}
{{- end -}}
{{- end -}}
{{- $urls := dict "collect.prometheus.url" $v.collect.prometheus.url "auth.oidc.issuer" $v.auth.oidc.issuer "keys.awskms.endpoint" $v.keys.awskms.endpoint -}}
{{- range $i, $url := $v.agent.servers -}}{{- $_ := set $urls (printf "agent.servers[%d]" $i) $url -}}{{- end -}}
{{- range $name, $url := $urls -}}
{{- if regexMatch "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@" $url -}}
{{- fail (printf "%s must not carry credentials (user:password@host): credentials come from files mounted from Secrets" $name) -}}
{{- end -}}
{{- end -}}
{{- with $v.agent.joinTokenSecret.name -}}
{{- if or (hasPrefix "cwj1." .) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" .)) -}}
{{- fail "agent.joinTokenSecret.name must name the Secret that holds the join token (kubectl create secret generic costwarden-join-token --from-file=token=...), not the token; the value is not repeated here" -}}
{{- end -}}
{{- end -}}
{{- if $v.networkPolicy.enabled -}}
{{- range $dest := include "costwarden.egressNeeded" . | fromYamlArray -}}
{{- if not (index $v.networkPolicy.egress $dest).to -}}
{{- fail (printf "networkPolicy.egress.%s.to is empty but the configuration connects to it: name its pods (namespaceSelector/podSelector) or addresses (ipBlock)" $dest) -}}
{{- end -}}
{{- end -}}
{{- $dests := list -}}
{{- if eq $v.mode "agent" -}}
{{- range $url := $v.agent.servers -}}
{{- $port := regexFind ":[0-9]+/?$" (trimPrefix "https://" $url) | trimPrefix ":" | trimSuffix "/" | default "443" -}}
{{- $dests = append $dests (dict "value" "agent.servers" "addr" $url "port" $port "dest" "centralServer") -}}
{{- end -}}
{{- else if $v.audit.syslog.address -}}
{{- $dests = append $dests (dict "value" "audit.syslog.address" "addr" $v.audit.syslog.address "port" (regexFind "[0-9]+$" $v.audit.syslog.address) "dest" "syslog") -}}
{{- end -}}
{{- range $a := $v.egress.allow -}}
{{- $dests = append $dests (dict "value" "egress.allow" "addr" $a "port" (regexFind "[0-9]+$" $a) "dest" "allow") -}}
{{- end -}}
{{- range $d := $dests -}}
{{- $open := false -}}
{{- range $p := (index $v.networkPolicy.egress $d.dest).ports -}}
{{- $lo := int $p.port -}}
{{- $hi := int (default $p.port $p.endPort) -}}
{{- if and (eq $p.protocol "TCP") (ge (atoi $d.port) $lo) (le (atoi $d.port) $hi) -}}{{- $open = true -}}{{- end -}}
{{- end -}}
{{- if not $open -}}
{{- fail (printf "%s %s: TCP port %s is not in networkPolicy.egress.%s.ports, so the NetworkPolicy would drop the connection" $d.value $d.addr $d.port $d.dest) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* costwarden.egressNeeded: the outbound destinations the configuration connects to. */}}
{{- define "costwarden.egressNeeded" -}}
{{- $v := .Values -}}
{{- $d := list -}}
{{- if $v.collect.prometheus.url -}}{{- $d = append $d "prometheus" -}}{{- end -}}
{{- if $v.collect.kubernetes.enabled -}}{{- $d = append $d "kubeAPIServer" -}}{{- end -}}
{{- if eq $v.storage.driver "postgres" -}}{{- $d = append $d "postgres" -}}{{- end -}}
{{- if eq $v.keys.provider "awskms" -}}{{- $d = append $d "kms" -}}{{- end -}}
{{- if and (eq $v.mode "server") $v.auth.oidc.issuer -}}{{- $d = append $d "oidc" -}}{{- end -}}
{{- if eq $v.mode "agent" -}}{{- $d = append $d "centralServer" -}}{{- end -}}
{{- if and (eq $v.mode "server") $v.audit.syslog.address -}}{{- $d = append $d "syslog" -}}{{- end -}}
{{- if $v.egress.allow -}}{{- $d = append $d "allow" -}}{{- end -}}
{{- toYaml $d -}}
{{- end -}}
