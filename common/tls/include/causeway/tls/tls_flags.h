// File: causeway/tls/tls_flags.h
//
// The daemons' TLS flags (--tls-cert, --tls-key, --tls-ca, --tls-client-auth), declared the
// same way in causeway-broker and causeway-registry (docs/security.md). Header-only: it
// needs CLI11, which only the daemons link.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "causeway/tls/server_tls.h"

namespace causeway::tls {

struct TlsFlags {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  std::string client_auth;  // empty: "require" with --tls-ca, else "none"

  // `ports` names what the flags secure, for --help ("the wire and registry ports").
  void add_to(CLI::App& app, const std::string& ports) {
    app.add_option("--tls-cert", cert_file,
                   "PEM certificate (then any intermediates) to serve TLS on " + ports +
                       "; with --tls-key. Reloaded on SIGHUP (docs/security.md)")
        ->check(CLI::ExistingFile);
    app.add_option("--tls-key", key_file, "PEM private key of --tls-cert (unencrypted); reloaded on SIGHUP")
        ->check(CLI::ExistingFile);
    app.add_option("--tls-ca", ca_file,
                   "PEM CA certificates that client certificates must chain to (mTLS); implies "
                   "--tls-client-auth require")
        ->check(CLI::ExistingFile);
    app.add_option("--tls-client-auth", client_auth,
                   "Client certificates: none (never asked), request (asked, verified when sent) or require (mTLS)")
        ->check(CLI::IsMember({"none", "request", "require"}));
  }

  // Which files to serve TLS with; nullopt when no TLS flag was given. kInvalidArgument
  // naming the flags for a combination that cannot work.
  Result<std::optional<ServerTlsFiles>> files() const {
    if (cert_file.empty() && key_file.empty()) {
      if (!ca_file.empty() || !client_auth.empty())
        return invalid_argument("--tls-ca and --tls-client-auth need --tls-cert and --tls-key (the server's own "
                                "certificate and key)");
      return std::optional<ServerTlsFiles>();
    }
    if (cert_file.empty() || key_file.empty())
      return invalid_argument("--tls-cert and --tls-key go together: give the certificate and its private key");
    ServerTlsFiles files{cert_file, key_file, ca_file, ClientAuth::kNone};
    if (!client_auth.empty()) {
      auto auth = parse_client_auth(client_auth);
      if (!auth) return auth.error();
      files.client_auth = *auth;
    } else if (!ca_file.empty()) {
      files.client_auth = ClientAuth::kRequire;
    }
    if (files.client_auth != ClientAuth::kNone && files.ca_file.empty())
      return invalid_argument("--tls-client-auth " + client_auth + " needs --tls-ca: the CA that client "
                              "certificates must chain to");
    return std::optional<ServerTlsFiles>(std::move(files));
  }
};

}  // namespace causeway::tls
