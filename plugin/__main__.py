"""Entry point of the agent-server-infra component plugin (PulumiPlugin.yaml): serves the components."""

from agent_server_infra.provider import main

if __name__ == "__main__":
    main()
