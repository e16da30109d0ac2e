//! The error catalogue: the one place that knows every error code, HTTP status and message.
//!
//! Policy: request handling returns [`ApiError`], which names a catalogue entry plus the
//! structured details its message needs (a parameter name, a limit). Only
//! `protocol::response` turns an `ApiError` into bytes, so JSON and XML envelopes can never
//! disagree. Start-up failures (bad flags, unbindable address) use `anyhow` instead and never
//! reach a client.
//!
//! Some wire codes appear twice with different messages because the real service words them
//! differently per action (e.g. `InvalidRegionId.NotFound`); each wording is its own [`Kind`].

use std::fmt;

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $kind:ident => ($status:expr, $code:expr, $message:expr); )*) => {
        /// One row of the catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Kind { $( $(#[$doc])* $kind, )* }

        /// Every row, in declaration order (used by scenario validation and docs).
        pub const ALL: &[Kind] = &[ $( Kind::$kind, )* ];

        impl Kind {
            /// The static row for this kind.
            pub const fn spec(self) -> Spec {
                match self { $( Kind::$kind => Spec { status: $status, code: $code, message: $message }, )* }
            }
        }
    };
}

/// Status, wire code and message template of a catalogue row. `{}` in the template is
/// replaced by the error's argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub status: u16,
    pub code: &'static str,
    pub message: &'static str,
}

catalogue! {
    // --- protocol, authentication and gateway errors (API reference §4.2) ---
    MissingParameter => (400, "MissingParameter", "The input parameter \"{}\" that is mandatory for processing this request is not supplied.");
    /// JoinResourceGroup documents its MissingParameter with HTTP 403.
    MissingParameterForbidden => (403, "MissingParameter", "The input parameter \"{}\" that is mandatory for processing this request is not supplied.");
    InvalidParameter => (400, "InvalidParameter", "The specified parameter \"{}\" is not valid.");
    Throttling => (400, "Throttling", "Request was denied due to request throttling.");
    ThrottlingUser => (400, "Throttling.User", "Request was denied due to user flow control.");
    ThrottlingApi => (400, "Throttling.Api", "Request was denied due to api flow control.");
    ServiceUnavailable => (503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.");
    InternalError => (500, "InternalError", "The request processing has failed due to some unknown error, exception or failure.");
    SignatureDoesNotMatch => (400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:{}");
    IncompleteSignature => (400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.");
    InvalidAccessKeyIdNotFound => (404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.");
    InvalidAccessKeyIdInactive => (400, "InvalidAccessKeyId.Inactive", "Specified access key is disabled.");
    InvalidSecurityTokenExpired => (400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.");
    InvalidSecurityTokenMalformed => (400, "InvalidSecurityToken.Malformed", "Specified SecurityToken is malformed.");
    InvalidSecurityTokenMismatch => (400, "InvalidSecurityToken.MismatchWithAccessKey", "Specified SecurityToken mismatch with the AccessKey.");
    SignatureNonceUsed => (400, "SignatureNonceUsed", "Specified signature nonce was used already.");
    InvalidTimeStampExpired => (400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.");
    InvalidTimeStampFormat => (400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.");
    InvalidVersion => (400, "InvalidVersion", "Specified parameter Version is not valid.");
    InvalidActionNotFound => (404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.");
    ForbiddenRam => (403, "Forbidden.RAM", "User not authorized to operate on the specified resource, or this API doesn't support RAM.");
    Forbidden => (403, "Forbidden", "User not authorized to operate on the specified resource.");
    UnsupportedHttpMethod => (400, "UnsupportedHTTPMethod", "This http method is not supported.");
    // --- mock-defined: malformed HTTP input the real gateway would reject in its own way ---
    /// Mock-defined: `%` not followed by two hex digits, or bytes that are not UTF-8.
    MalformedEncoding => (400, "InvalidParameter.Encoding", "The request contains malformed percent-encoding or invalid UTF-8 in {}.");
    /// Mock-defined: a form body in a content coding (`gzip`), which the mock does not undo.
    CompressedFormBody => (400, "InvalidParameter.Encoding", "The form body is sent with Content-Encoding {}, which the mock does not undo.");
    /// Mock-defined: more parameters than `--max-params`.
    TooManyParameters => (400, "InvalidParameter.TooMany", "The request carries more than {} parameters.");
    /// Mock-defined: a body over `--max-body-bytes`.
    RequestTooLarge => (413, "Request.TooLarge", "The request body exceeds the limit of {} bytes.");
    // --- key pairs (§1.1–§1.6) ---
    InvalidKeyPairNameMalformed => (400, "InvalidKeyPairName.Malformed", "Specified Key Pair name is not valid.");
    KeyPairAlreadyExist => (400, "KeyPair.AlreadyExist", "The key pair already exist.");
    DuplicateTagKey => (400, "Duplicate.TagKey", "The Tag.N.Key contain duplicate key.");
    InvalidTagKeyMalformed => (400, "InvalidTagKey.Malformed", "The specified Tag.n.Key is not valid.");
    InvalidTagValueMalformed => (400, "InvalidTagValue.Malformed", "The specified Tag.n.Value is not valid.");
    QuotaExceedKeyPair => (403, "QuotaExceed.KeyPair", "The key pair quota exceeds.");
    /// The docs give `%s`; the argument says which limit was hit.
    QuotaExceedTags => (403, "QuotaExceed.Tags", "{}");
    InvalidRegionIdNotFound => (404, "InvalidRegionId.NotFound", "The RegionId provided does not exist in our records.");
    /// The wording used by the tag APIs and DetachKeyPair.
    InvalidRegionIdNotExist => (404, "InvalidRegionId.NotFound", "The specified RegionId does not exist.");
    InvalidResourceGroupNotFound => (404, "InvalidResourceGroup.NotFound", "The ResourceGroup provided does not exist in our records.");
    InvalidPublicKeyBodyMalformed => (400, "InvalidPublicKeyBody.Malformed", "The PublicKeyBody format is not supported.");
    /// ImportKeyPair's shorter wording of InternalError.
    InternalErrorImport => (500, "InternalError", "The request processing has failed due to some unknown error.");
    InvalidKeyPairNamesValueNotSupported => (400, "InvalidKeyPairNames.ValueNotSupported", "The specified parameter \"KeyPairNames\" is not valid.");
    InstanceKeyPairLimitExceeded => (403, "InstanceKeyPairLimitExceeded", "Exceeding the allowed amount of instance which will be deleted.");
    KeypairAlreadyAttachedInstance => (400, "InvalidParameter.KeypairAlreadyAttachedInstance", "The specified parameter \"KeyPairNames\" attached to instances can not be deleted.");
    /// Undocumented; Terraform tolerates it on delete. Only produced when forced by a scenario.
    InvalidKeyPairNotFound => (404, "InvalidKeyPair.NotFound", "The specified KeyPair does not exist.");
    DependencyViolationWindowsInstance => (403, "DependencyViolation.WindowsInstance", "The instance creating is windows, cannot use ssh key pair to login");
    DependencyViolationIoOptimize => (400, "DependencyViolation.IoOptimize", "The specified parameter InstanceIds is not valid.");
    InvalidKeyPairNameNotFound => (400, "InvalidKeyPairName.NotFound", "The specified KeyPairName does not exist in our records.");
    InvalidInstanceIdsValueNotSupported => (400, "InvalidInstanceIds.ValueNotSupported", "The specified parameter InstanceIds is not valid.");
    // --- tags and resource groups (§1.7–§1.10) ---
    MissingParameterTagOwnerUid => (404, "MissingParameter.TagOwnerUid", "The parameter - TagOwnerUid should not be null");
    MissingParameterTagOwnerBid => (404, "MissingParameter.TagOwnerBid", "The parameter - TagOwnerBid should not be null");
    MissingParameterResourceType => (404, "MissingParameter.ResourceType", "The parameter - ResourceType should not be null");
    MissingParameterTags => (404, "MissingParameter.Tags", "The parameter - Tags should not be null");
    MissingParameterRegionId => (404, "MissingParameter.RegionId", "The parameter - RegionId should not be null");
    PermissionDeniedTagOwnerUid => (403, "PermissionDenied.TagOwnerUid", "The specified operator not have permission to set TagOwnerUid value.");
    PermissionDeniedScope => (403, "PermissionDenied.Scope", "The specified operator not have permission to set Scope value.");
    NumberExceedResourceIds => (400, "NumberExceed.ResourceIds", "The ResourceIds parameter's number is exceed , Valid : 50");
    NumberExceedTags => (400, "NumberExceed.Tags", "The Tags parameter's number is exceed , Valid : 20");
    InvalidResourceIdNotFound => (404, "InvalidResourceId.NotFound", "The specified ResourceIds are not found in our records.");
    /// JoinResourceGroup's wording.
    InvalidResourceIdNotFoundSingle => (404, "InvalidResourceId.NotFound", "The ResourceId provided does not exist in our records.");
    InvalidResourceTypeNotFound => (404, "InvalidResourceType.NotFound", "The ResourceType provided does not exist in our records.");
    OperationDeniedQuotaExceed => (400, "OperationDenied.QuotaExceed", "The quota of tags on resource is beyond permitted range.");
    InvalidResourceIdNotSupported => (403, "InvalidResourceId.NotSupported", "The specified ResourceId does not support tagging.");
    InvalidTagMismatch => (400, "InvalidTag.Mismatch", "The specified Tag.n.Key and Tag.n.Value are not match.");
    InvalidTagCount => (400, "InvalidTagCount", "The specified tags are beyond the permitted range.");
    InvalidScope => (400, "Invalid.Scope", "The specified scope is invalid.");
    NoPermissionTag => (403, "NoPermission.Tag", "The operator is not permission for the tag.");
    InvalidParameterTagValue => (400, "InvalidParameter.TagValue", "The specified parameter \"Tag.N.Value\" is not valid.");
    InvalidResourceGroupDuplicate => (403, "InvalidResourceGroup.Duplicate", "The ResourceId provided has a ResourceGroup in our records.");
    // --- DescribeRegions (§1.11) ---
    UnauthorizedEmptyRegion => (403, "Unauthorized.EmptyRegion", "The specified account has no access authority to any region.");
    InvalidAcceptLanguageNotFound => (404, "InvalidAcceptLanguage.NotFound", "Only Chinese (zh-CN), English (en-US), and Japanese (ja) are allowed.");
}

/// A wire-visible API error: a catalogue row plus the argument its message template needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    kind: Kind,
    arg: Option<String>,
    /// Status and message replacing the catalogue's: only scenario rules that force a code an
    /// action does not document (`"undocumented": true`) set it.
    custom: Option<Box<(u16, String)>>,
    /// The `AccessDeniedDetail` object of the envelope (field → text): only scenario rules
    /// set it, for the permission errors the SDKs copy it from.
    detail: Option<Box<Detail>>,
}

/// `AccessDeniedDetail`'s fields and their texts, in name order.
pub type Detail = std::collections::BTreeMap<String, String>;

impl ApiError {
    /// An error whose message has no placeholder.
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            arg: None,
            custom: None,
            detail: None,
        }
    }

    /// An error whose message template takes `arg` (a parameter name, a limit, a string to sign).
    pub fn with(kind: Kind, arg: impl Into<String>) -> Self {
        Self {
            kind,
            arg: Some(arg.into()),
            custom: None,
            detail: None,
        }
    }

    /// `kind`'s code with a status and message of the caller's choosing (scenario overrides).
    pub fn overridden(kind: Kind, status: u16, message: impl Into<String>) -> Self {
        Self {
            kind,
            arg: None,
            custom: Some(Box::new((status, message.into()))),
            detail: None,
        }
    }

    /// The same error with an `AccessDeniedDetail` object.
    #[must_use]
    pub fn with_detail(mut self, detail: Detail) -> Self {
        self.detail = Some(Box::new(detail));
        self
    }

    pub fn detail(&self) -> Option<&Detail> {
        self.detail.as_deref()
    }

    /// `MissingParameter` naming `param`.
    pub fn missing(param: &str) -> Self {
        Self::with(Kind::MissingParameter, param)
    }

    /// `InvalidParameter` naming `param`.
    pub fn invalid(param: &str) -> Self {
        Self::with(Kind::InvalidParameter, param)
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn status(&self) -> u16 {
        match &self.custom {
            Some(c) => c.0,
            None => self.kind.spec().status,
        }
    }

    pub fn code(&self) -> &'static str {
        self.kind.spec().code
    }

    /// The message with its placeholder filled.
    pub fn message(&self) -> String {
        self.message_parts().concat()
    }

    /// The message as the text before the placeholder, the argument and the text after it,
    /// for writers that escape straight into a response body.
    pub fn message_parts(&self) -> [&str; 3] {
        if let Some(c) = &self.custom {
            return [&c.1, "", ""];
        }
        let template = self.kind.spec().message;
        let arg = self.arg.as_deref().unwrap_or("");
        match template.split_once("{}") {
            Some((before, after)) => [before, arg, after],
            None => [template, "", ""],
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for ApiError {}

/// Looks up the first catalogue row with wire code `code` (scenario files name errors by code).
pub fn kind_for_code(code: &str) -> Option<Kind> {
    ALL.iter().copied().find(|k| k.spec().code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_an_error_status_and_a_code() {
        for kind in ALL {
            let spec = kind.spec();
            assert!(
                (400..600).contains(&spec.status),
                "{kind:?} has status {}",
                spec.status
            );
            assert!(!spec.code.is_empty() && !spec.message.is_empty());
            assert!(spec.message.matches("{}").count() <= 1, "{kind:?}");
        }
    }

    #[test]
    fn messages_fill_their_placeholder() {
        assert_eq!(
            ApiError::missing("RegionId").message(),
            "The input parameter \"RegionId\" that is mandatory for processing this request is not supplied."
        );
        let e = ApiError::with(Kind::SignatureDoesNotMatch, "GET&%2F&a%3Db");
        assert!(e
            .message()
            .ends_with("server string to sign is:GET&%2F&a%3Db"));
        assert_eq!(ApiError::new(Kind::KeyPairAlreadyExist).status(), 400);
        assert_eq!(
            ApiError::new(Kind::QuotaExceedKeyPair).code(),
            "QuotaExceed.KeyPair"
        );
    }

    #[test]
    fn codes_resolve_to_their_first_wording() {
        assert_eq!(
            kind_for_code("InvalidRegionId.NotFound"),
            Some(Kind::InvalidRegionIdNotFound)
        );
        assert_eq!(kind_for_code("NoSuchCode"), None);
    }
}
