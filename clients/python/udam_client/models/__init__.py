"""Contains all the data models used in inputs/outputs"""

from .balance import Balance
from .connected_account import ConnectedAccount
from .create_endpoint import CreateEndpoint
from .create_listing import CreateListing
from .create_listing_currency_type_1 import CreateListingCurrencyType1
from .create_listing_currency_type_2_type_1 import CreateListingCurrencyType2Type1
from .create_listing_currency_type_3_type_1 import CreateListingCurrencyType3Type1
from .create_order import CreateOrder
from .currency_earnings import CurrencyEarnings
from .delivery import Delivery
from .delivery_page import DeliveryPage
from .delivery_status import DeliveryStatus
from .delivery_view import DeliveryView
from .disabled_reason import DisabledReason
from .earning_entry import EarningEntry
from .earning_entry_page import EarningEntryPage
from .earning_state import EarningState
from .earnings import Earnings
from .endpoint_page import EndpointPage
from .endpoint_view import EndpointView
from .error_body import ErrorBody
from .error_code import ErrorCode
from .error_detail import ErrorDetail
from .event_outcome import EventOutcome
from .event_type import EventType
from .gateway_input import GatewayInput
from .gateway_patch import GatewayPatch
from .grant_status import GrantStatus
from .health import Health
from .highlight import Highlight
from .listing_availability import ListingAvailability
from .listing_item import ListingItem
from .listing_page import ListingPage
from .listing_view import ListingView
from .login_request import LoginRequest
from .login_response import LoginResponse
from .meter import Meter
from .onboarding import Onboarding
from .order_created import OrderCreated
from .order_key import OrderKey
from .order_page import OrderPage
from .order_placed import OrderPlaced
from .order_status import OrderStatus
from .order_view import OrderView
from .owed import Owed
from .payment_status import PaymentStatus
from .payout import Payout
from .payout_account import PayoutAccount
from .payout_hold import PayoutHold
from .payout_page import PayoutPage
from .payout_provider_kind import PayoutProviderKind
from .payout_run_result import PayoutRunResult
from .payout_status import PayoutStatus
from .received import Received
from .register_request import RegisterRequest
from .revoked import Revoked
from .rolled_key import RolledKey
from .route_cost import RouteCost
from .settle_request import SettleRequest
from .settle_request_currency import SettleRequestCurrency
from .settlement_status import SettlementStatus
from .settlement_view import SettlementView
from .stripe_webhook_body import StripeWebhookBody
from .test_queued import TestQueued
from .token_page import TokenPage
from .token_view import TokenView
from .update_endpoint import UpdateEndpoint
from .update_listing import UpdateListing
from .usage_bucket import UsageBucket
from .usage_granularity import UsageGranularity
from .usage_report import UsageReport
from .user_envelope import UserEnvelope
from .user_view import UserView

__all__ = (
    "Balance",
    "ConnectedAccount",
    "CreateEndpoint",
    "CreateListing",
    "CreateListingCurrencyType1",
    "CreateListingCurrencyType2Type1",
    "CreateListingCurrencyType3Type1",
    "CreateOrder",
    "CurrencyEarnings",
    "Delivery",
    "DeliveryPage",
    "DeliveryStatus",
    "DeliveryView",
    "DisabledReason",
    "EarningEntry",
    "EarningEntryPage",
    "EarningState",
    "Earnings",
    "EndpointPage",
    "EndpointView",
    "ErrorBody",
    "ErrorCode",
    "ErrorDetail",
    "EventOutcome",
    "EventType",
    "GatewayInput",
    "GatewayPatch",
    "GrantStatus",
    "Health",
    "Highlight",
    "ListingAvailability",
    "ListingItem",
    "ListingPage",
    "ListingView",
    "LoginRequest",
    "LoginResponse",
    "Meter",
    "Onboarding",
    "OrderCreated",
    "OrderKey",
    "OrderPage",
    "OrderPlaced",
    "OrderStatus",
    "OrderView",
    "Owed",
    "PaymentStatus",
    "Payout",
    "PayoutAccount",
    "PayoutHold",
    "PayoutPage",
    "PayoutProviderKind",
    "PayoutRunResult",
    "PayoutStatus",
    "Received",
    "RegisterRequest",
    "Revoked",
    "RolledKey",
    "RouteCost",
    "SettleRequest",
    "SettleRequestCurrency",
    "SettlementStatus",
    "SettlementView",
    "StripeWebhookBody",
    "TestQueued",
    "TokenPage",
    "TokenView",
    "UpdateEndpoint",
    "UpdateListing",
    "UsageBucket",
    "UsageGranularity",
    "UsageReport",
    "UserEnvelope",
    "UserView",
)
