//! Which certificate authorities a registry's TLS certificate is checked against: Mozilla's
//! roots (as webpki-roots ships them), plus the registry's own CA when docker's certs
//! directory has one (`certs.d/HOST/ca.crt`). The private CA is added, never a
//! replacement: the same client also fetches tokens from an auth server and follows
//! redirects to storage hosts that have public certificates.

use ureq::tls::{Certificate, RootCerts};

/// The roots for a registry with the private CAs `private` (none: the public roots only).
pub fn roots(private: Vec<Certificate<'static>>) -> RootCerts {
    let public = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()));
    RootCerts::from(public.chain(private))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_ca_is_added_to_the_public_roots() {
        let ca = Certificate::from_der(b"a private CA").to_owned();
        let RootCerts::Specific(all) = roots(vec![ca.clone()]) else {
            panic!("a private CA gives a list of roots");
        };
        assert!(all.iter().any(|c| c.der() == ca.der()), "the private CA");
        assert!(all.len() > 100, "Mozilla's roots too: {} roots", all.len());
    }
}
