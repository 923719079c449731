from apps.workflows.processes.account_activation import AccountActivation
from apps.workflows.processes.employee_onboarding import EmployeeOnboarding
from apps.workflows.processes.purchase_order import PurchaseOrderApproval

__all__ = ["AccountActivation", "EmployeeOnboarding", "PurchaseOrderApproval"]
