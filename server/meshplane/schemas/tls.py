"""TLS shapes: listener TLS and client policies, for virtual nodes and (as VirtualGateway* twins) gateways.

botocore keeps separate shape names for the gateway variants even where the structure is identical;
each gets its own class so OpenAPI components carry App Mesh's names.
"""

from __future__ import annotations

from .base import Bool
from .base import Enum
from .base import ListOf
from .base import Obj
from .base import Str
from .camel import CamelCaseSchema
from .camel import UnionSchema
from .common import TLS_MODES
from .common import FilePath
from .common import Port
from .common import SubjectAlternativeNamesSchema

# --- virtual node


class ListenerTlsFileCertificateSchema(CamelCaseSchema):
    certificate_chain = FilePath(required=True)
    private_key = FilePath(required=True)


class ListenerTlsSdsCertificateSchema(CamelCaseSchema):
    secret_name = Str(required=True)


class ListenerTlsAcmCertificateSchema(CamelCaseSchema):
    certificate_arn = Str(required=True)


class ListenerTlsCertificateSchema(UnionSchema):
    acm = Obj(ListenerTlsAcmCertificateSchema)
    file = Obj(ListenerTlsFileCertificateSchema)
    sds = Obj(ListenerTlsSdsCertificateSchema)


class TlsValidationContextAcmTrustSchema(CamelCaseSchema):
    certificate_authority_arns = ListOf(Str(), 1, 3, required=True)


class TlsValidationContextFileTrustSchema(CamelCaseSchema):
    certificate_chain = FilePath(required=True)


class TlsValidationContextSdsTrustSchema(CamelCaseSchema):
    secret_name = Str(required=True)


class ListenerTlsValidationContextTrustSchema(UnionSchema):
    file = Obj(TlsValidationContextFileTrustSchema)
    sds = Obj(TlsValidationContextSdsTrustSchema)


class ListenerTlsValidationContextSchema(CamelCaseSchema):
    subject_alternative_names = Obj(SubjectAlternativeNamesSchema)
    trust = Obj(ListenerTlsValidationContextTrustSchema, required=True)


class ListenerTlsSchema(CamelCaseSchema):
    certificate = Obj(ListenerTlsCertificateSchema, required=True)
    mode = Enum(*TLS_MODES, required=True)
    validation = Obj(ListenerTlsValidationContextSchema)


class ClientTlsCertificateSchema(UnionSchema):
    file = Obj(ListenerTlsFileCertificateSchema)
    sds = Obj(ListenerTlsSdsCertificateSchema)


class TlsValidationContextTrustSchema(UnionSchema):
    acm = Obj(TlsValidationContextAcmTrustSchema)
    file = Obj(TlsValidationContextFileTrustSchema)
    sds = Obj(TlsValidationContextSdsTrustSchema)


class TlsValidationContextSchema(CamelCaseSchema):
    subject_alternative_names = Obj(SubjectAlternativeNamesSchema)
    trust = Obj(TlsValidationContextTrustSchema, required=True)


class ClientPolicyTlsSchema(CamelCaseSchema):
    certificate = Obj(ClientTlsCertificateSchema)
    # Absent means true (model doc); not defaulted here: stored specs keep absent members absent.
    enforce = Bool()
    ports = ListOf(Port())
    validation = Obj(TlsValidationContextSchema, required=True)


class ClientPolicySchema(CamelCaseSchema):
    tls = Obj(ClientPolicyTlsSchema)


# --- virtual gateway


class VirtualGatewayListenerTlsFileCertificateSchema(CamelCaseSchema):
    certificate_chain = FilePath(required=True)
    private_key = FilePath(required=True)


class VirtualGatewayListenerTlsSdsCertificateSchema(CamelCaseSchema):
    secret_name = Str(required=True)


class VirtualGatewayListenerTlsAcmCertificateSchema(CamelCaseSchema):
    certificate_arn = Str(required=True)


class VirtualGatewayListenerTlsCertificateSchema(UnionSchema):
    acm = Obj(VirtualGatewayListenerTlsAcmCertificateSchema)
    file = Obj(VirtualGatewayListenerTlsFileCertificateSchema)
    sds = Obj(VirtualGatewayListenerTlsSdsCertificateSchema)


class VirtualGatewayTlsValidationContextAcmTrustSchema(CamelCaseSchema):
    certificate_authority_arns = ListOf(Str(), 1, 3, required=True)


class VirtualGatewayTlsValidationContextFileTrustSchema(CamelCaseSchema):
    certificate_chain = FilePath(required=True)


class VirtualGatewayTlsValidationContextSdsTrustSchema(CamelCaseSchema):
    secret_name = Str(required=True)


class VirtualGatewayListenerTlsValidationContextTrustSchema(UnionSchema):
    file = Obj(VirtualGatewayTlsValidationContextFileTrustSchema)
    sds = Obj(VirtualGatewayTlsValidationContextSdsTrustSchema)


class VirtualGatewayListenerTlsValidationContextSchema(CamelCaseSchema):
    subject_alternative_names = Obj(SubjectAlternativeNamesSchema)
    trust = Obj(VirtualGatewayListenerTlsValidationContextTrustSchema, required=True)


class VirtualGatewayListenerTlsSchema(CamelCaseSchema):
    certificate = Obj(VirtualGatewayListenerTlsCertificateSchema, required=True)
    mode = Enum(*TLS_MODES, required=True)
    validation = Obj(VirtualGatewayListenerTlsValidationContextSchema)


class VirtualGatewayClientTlsCertificateSchema(UnionSchema):
    file = Obj(VirtualGatewayListenerTlsFileCertificateSchema)
    sds = Obj(VirtualGatewayListenerTlsSdsCertificateSchema)


class VirtualGatewayTlsValidationContextTrustSchema(UnionSchema):
    acm = Obj(VirtualGatewayTlsValidationContextAcmTrustSchema)
    file = Obj(VirtualGatewayTlsValidationContextFileTrustSchema)
    sds = Obj(VirtualGatewayTlsValidationContextSdsTrustSchema)


class VirtualGatewayTlsValidationContextSchema(CamelCaseSchema):
    subject_alternative_names = Obj(SubjectAlternativeNamesSchema)
    trust = Obj(VirtualGatewayTlsValidationContextTrustSchema, required=True)


class VirtualGatewayClientPolicyTlsSchema(CamelCaseSchema):
    certificate = Obj(VirtualGatewayClientTlsCertificateSchema)
    enforce = Bool()
    ports = ListOf(Port())
    validation = Obj(VirtualGatewayTlsValidationContextSchema, required=True)


class VirtualGatewayClientPolicySchema(CamelCaseSchema):
    tls = Obj(VirtualGatewayClientPolicyTlsSchema)
