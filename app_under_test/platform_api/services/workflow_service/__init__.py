"""Workflow definitions: creating, listing and reading them."""

from platform_api.services.workflow_service.workflows import (
    InvalidWorkflowDefinition,
    create_workflow,
    get_workflow,
    list_workflows,
)

__all__ = ["InvalidWorkflowDefinition", "create_workflow", "get_workflow", "list_workflows"]
