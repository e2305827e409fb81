"""Workflow definitions: creating, listing and reading them."""

from app_under_test.services.workflow_service.workflows import (
    InvalidWorkflowDefinition,
    create_workflow,
    get_workflow,
    list_workflows,
)

__all__ = ["InvalidWorkflowDefinition", "create_workflow", "get_workflow", "list_workflows"]
