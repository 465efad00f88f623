"""agent-server-infra: Pulumi components for the LangGraph Agent Server on AWS and Kubernetes."""

__version__ = "0.1.0"
